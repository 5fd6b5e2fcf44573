# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An OCI runtime for the lab's corp hosts: runc, minus the capabilities the host cannot grant.

A LAB DIFFERENCE (docs/lab.md, "Lab differences"): the corp hosts are
containers whose capability bounding set lacks some capabilities (the machine
the lab runs on lacks CAP_SYS_RESOURCE, and a corp host has only Docker's
default set plus SYS_ADMIN and NET_ADMIN), so runc fails to start a
`--privileged` container there ("unable to apply caps"). Registered in the
corp host's /etc/docker/daemon.json as the default runtime (prepare-corp-host.yml,
host variable lab_privileged_runtime), this wrapper removes those capabilities
from the container's OCI spec (the bundle's config.json for create/run, the
process file for exec) and then runs runc with the original arguments. A
container therefore gets every capability the host has, which is what
`--privileged` asks for on a real machine. Nothing else is changed: devices,
a read-write /sys and the unconfined profiles of a privileged container work
on the corp hosts as they are. The collection does not depend on this file.

Standard library only; installed as /usr/local/sbin/lab-runc.
"""

import json
import os
import sys

RUNC = "/usr/sbin/runc"
STATUS_FILE = "/proc/self/status"

# Linux capability numbers (include/uapi/linux/capability.h), as runc names them.
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
# runc's global options that take a value: the subcommand is the first other word.
GLOBAL_OPTIONS_WITH_VALUE = ("--root", "--log", "--log-format", "--criu", "--rootless")


def unavailable_capabilities(status_text):
    """The capabilities missing from the bounding set in a /proc/<pid>/status text."""
    for line in status_text.splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split(":", 1)[1].strip(), 16)
            return frozenset(name for bit, name in enumerate(CAPABILITIES) if not bounding >> bit & 1)
    raise ValueError("no CapBnd line in the process status")


def restrict_process(process, unavailable):
    """The OCI `process` object without the unavailable capabilities, and the sorted names removed.

    Capability names the table does not know (newer kernels) are left for runc to judge."""
    capabilities = process.get("capabilities")
    if not capabilities:
        return process, []
    removed = set()
    restricted = {}
    for kind, names in capabilities.items():
        restricted[kind] = [name for name in names if name not in unavailable]
        removed.update(name for name in names if name in unavailable)
    if not removed:
        return process, []
    return dict(process, capabilities=restricted), sorted(removed)


def restrict_spec(spec, unavailable):
    """A bundle's config.json document with its process restricted, and the names removed."""
    if "process" not in spec:
        return spec, []
    process, removed = restrict_process(spec["process"], unavailable)
    return (dict(spec, process=process), removed) if removed else (spec, [])


def option_value(arguments, long_name, short_name):
    """The value of `--name X`, `--name=X` or `-n X` in arguments, or None."""
    for index, argument in enumerate(arguments):
        if argument in (long_name, short_name) and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith(long_name + "="):
            return argument.split("=", 1)[1]
    return None


def subcommand(arguments):
    """runc's subcommand and the arguments after it: ("create", [...]) or (None, [])."""
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument in GLOBAL_OPTIONS_WITH_VALUE:
            index += 2
        elif argument.startswith("-"):
            index += 1
        else:
            return argument, arguments[index + 1:]
    return None, []


def spec_files(arguments, working_directory):
    """The files this runc call reads a process from: [(path, "bundle" | "process")]."""
    command, rest = subcommand(arguments)
    if command in ("create", "run"):
        bundle = option_value(rest, "--bundle", "-b") or working_directory
        return [(os.path.join(bundle, "config.json"), "bundle")]
    if command == "exec":
        process_file = option_value(rest, "--process", "-p")
        return [(process_file, "process")] if process_file else []
    return []


def rewrite(path, document):
    """Replace the file atomically, keeping its mode."""
    mode = os.stat(path).st_mode & 0o7777
    temporary = path + ".lab-runc"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    os.replace(temporary, path)


def restrict_files(arguments, working_directory, unavailable):
    for path, kind in spec_files(arguments, working_directory):
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        edit = restrict_spec if kind == "bundle" else restrict_process
        edited, removed = edit(document, unavailable)
        if removed:
            rewrite(path, edited)


def main(arguments):
    with open(STATUS_FILE, encoding="ascii") as handle:
        unavailable = unavailable_capabilities(handle.read())
    restrict_files(arguments, os.getcwd(), unavailable)
    os.execv(RUNC, [RUNC, *arguments])


if __name__ == "__main__":
    main(sys.argv[1:])
