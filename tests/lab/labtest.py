# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Molecule scenarios' testinfra verifiers need from the lab.

The shared Molecule configuration puts tests/lab on PYTHONPATH, so a verifier
does `import labtest` (the lab's description, the fake GitLab's control API,
playbook runs) and `import proxylog` (the proxy's access log).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import yaml

LAB_DIRECTORY = Path(__file__).resolve().parent
sys.path.insert(0, str(LAB_DIRECTORY / "fakegitlab"))

from client import FakeGitLabControl  # noqa: E402  (after the path is set)
import proxylog  # noqa: E402  (beside this file)

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)", re.M)


@functools.lru_cache(maxsize=1)
def lab_env() -> dict:
    """The lab's description (`lab env`): proxy, credentials, URLs, CA, registry."""
    output = subprocess.run([str(LAB_DIRECTORY / "bin" / "lab"), "env"], check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def gitlab() -> FakeGitLabControl:
    """A client of the fake GitLab's control API (reachable from the controller only)."""
    return FakeGitLabControl(lab_env()["gitlab"]["control_url"])


def assert_a_job_fetches_through_cntlm(tags: list[str], timeout: int = 120) -> None:
    """Run a job that fetches the lab's test file over HTTP with curl; assert that it got the
    file, and that corp-proxy saw that fetch only as the NTLM account (so: through cntlm)."""
    env = lab_env()
    control = gitlab()
    mark = proxylog.mark()
    job = control.queue_job(["curl -fsS -o /tmp/fetched " + env["files"]["test_file_url"], "sha256sum /tmp/fetched"],
                            image="behindproxy/job-curl:lab", tags=tags)
    result = control.wait_for_job_result(job, timeout=timeout)
    assert result["status"] == "success", result.get("trace")
    assert env["files"]["test_file_sha256"] in result["trace"]
    fetched = proxylog.wait_for(lambda entry: entry.host == "files.lab.test" and entry.status == 200, since=mark)
    assert {entry.user for entry in fetched} == {env["ntlm"]["logged_as"]}


def container_address(container: str, network: str) -> str:
    """The IPv4 address of a container on one Docker network."""
    template = "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network
    output = subprocess.run(["docker", "inspect", "-f", template, container], check=True, capture_output=True, text=True)
    return output.stdout.strip()


# Prints what a TCP connection to argv[1]:argv[2] met: "connected", "timeout" or the errno's name.
CONNECT = r"""
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    print("connected")
except TimeoutError:
    print("timeout")
except OSError as error:
    print(errno.errorcode.get(error.errno, str(error)))
"""


def connection_outcome(host, address: str, port: int) -> str:
    """What a TCP connection from `host` (a testinfra host) to address:port meets: "connected", "timeout"
    or the errno's name. ECONNREFUSED is an answer from the machine at the address (nothing listens
    on that port); ENETUNREACH and EHOSTUNREACH mean no route led there."""
    return host.check_output("python3 -c %s %s %d" % (shlex.quote(CONNECT), shlex.quote(address), port)).strip()


def journal_cursor(host, unit: str) -> str:
    """The cursor of the last journal entry of `unit` on `host` (a testinfra host), for journal_after()."""
    shown = host.check_output(f"journalctl -u {shlex.quote(unit)} -n 1 -q -o cat --show-cursor")
    cursors = [line for line in shown.splitlines() if line.startswith("-- cursor: ")]
    assert cursors, f"no journal entry of {unit} yet: {shown!r}"
    return cursors[-1][len("-- cursor: "):]


def journal_after(host, unit: str, cursor: str) -> str:
    """The messages `unit` logged on `host` after the entry at `cursor` (journal_cursor())."""
    return host.check_output(f"journalctl -u {shlex.quote(unit)} -q -o cat --no-pager "
                             f"--after-cursor={shlex.quote(cursor)}")


def basic_proxy_url(password: str | None = None) -> str:
    """The corporate proxy's URL with the lab's Basic credentials (or another password)."""
    env = lab_env()
    secret = env["basic"]["password"] if password is None else password
    return "http://%s:%s@%s:%d" % (env["basic"]["user"], secret, env["proxy"]["host"], env["proxy"]["port"])


def inventory_file() -> str:
    """The scenario's inventory, as Molecule hands it to the verifier."""
    return os.environ["MOLECULE_INVENTORY_FILE"]


def lab(*arguments: str) -> str:
    """Run a `lab` command (tests/lab/bin/lab); its stderr, where it says what it did."""
    completed = subprocess.run(lab_command(*arguments), capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise AssertionError("lab %s failed: %s" % (" ".join(arguments), completed.stderr.strip()))
    return completed.stderr


def lab_command(*arguments: str) -> list[str]:
    return [str(LAB_DIRECTORY / "bin" / "lab"), *arguments]


def fault_at(task_pattern: str, command: list[str]) -> dict[str, str]:
    """Environment for run_playbook: run `command` when the first task whose name ("role : name")
    matches the regular expression `task_pattern` is about to start (tests/lab/callback_plugins/lab_fault.py)."""
    return {"ANSIBLE_CALLBACK_PLUGINS": str(LAB_DIRECTORY / "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "lab_fault",
            "LAB_FAULT_AT_TASK": task_pattern, "LAB_FAULT_COMMAND": json.dumps(command)}


def run_playbook(playbook: str, extra_vars: dict | None = None, verbosity: int = 0,
                 check: bool = False, diff: bool = False, tags: str | None = None,
                 environment: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run one of the scenario's playbooks again, against the scenario's inventory.

    Molecule's verifier environment carries the inventory and the Ansible
    configuration of the scenario (MOLECULE_INVENTORY_FILE, ANSIBLE_CONFIG);
    `environment` adds to it (fault_at()).
    """
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    command = ["ansible-playbook", "-i", inventory_file(), str(scenario / playbook)]
    if verbosity:
        command.append("-" + "v" * verbosity)
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if tags:
        command += ["--tags", tags]
    # Extra variables (tokens among them) go in a file only this user can
    # read, never on a command line.
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="extra-vars-") as variables:
        if extra_vars:
            json.dump(extra_vars, variables)
            variables.flush()
            command += ["--extra-vars", "@" + variables.name]
        return subprocess.run(command, capture_output=True, text=True, check=False,
                              env=dict(os.environ, **(environment or {})))


@contextlib.contextmanager
def corp_proxy_cut_off(container: str):
    """While the block runs, the corp host `container` cannot reach corp-proxy: its TCP packets
    to the proxy's address are rejected (iptables in the host), those of connections open now
    included. For this host it is as if the proxy were down, while scenarios running beside
    it (`make molecule`) keep the proxy."""
    def in_host(*command):
        done = subprocess.run(["docker", "exec", container, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError("%s in %s failed: %s" % (" ".join(command), container, done.stderr.strip()))
        return done.stdout

    address = in_host("getent", "ahostsv4", lab_env()["proxy"]["host"]).split()[0]
    rule = ["OUTPUT", "-p", "tcp", "-d", address, "-j", "REJECT", "--reject-with", "tcp-reset"]
    in_host("iptables", "-I", *rule)
    try:
        yield
    finally:
        in_host("iptables", "-D", *rule)


def recreate_host(name: str, molecule_file: Path, prepare_playbook: str) -> None:
    """Remove one host of the scenario and make it again as Molecule does: the shared create
    playbook with the host's platform from `molecule_file`, then the scenario's `prepare_playbook`."""
    scenario = yaml.safe_load(molecule_file.read_text(encoding="utf-8"))
    platforms = [dict(platform, image=os.path.expandvars(platform["image"]))
                 for platform in scenario["platforms"] if platform["name"] == name]
    if len(platforms) != 1:
        raise AssertionError("%s names no platform %s" % (molecule_file, name))
    subprocess.run(["docker", "rm", "--force", "--volumes", name], capture_output=True, text=True, check=True)
    for playbook, extra_vars in ((str(LAB_DIRECTORY / "molecule" / "create.yml"), {"molecule_yml": {"platforms": platforms}}),
                                 (prepare_playbook, None)):
        made = run_playbook(playbook, extra_vars)
        if made.returncode != 0:
            raise AssertionError("%s failed to make %s again: %s" % (playbook, name, made.stdout[-3000:]))


def run_module(host: str, module: str, arguments: dict) -> dict:
    """Run one module on one host of the scenario's inventory; its result as a dict."""
    command = ["ansible", "-i", inventory_file(), host, "-m", module, "-a", json.dumps(arguments)]
    environment = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    # The JSON document, whatever another enabled callback printed before or after it.
    try:
        report, _end = json.JSONDecoder().raw_decode(completed.stdout, completed.stdout.index("{"))
    except ValueError as error:
        raise AssertionError("no JSON from %s: %s %s" % (" ".join(command[:6]), completed.stdout[-2000:],
                                                         completed.stderr[-2000:])) from error
    return report["plays"][0]["tasks"][0]["hosts"][host]


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counts per host: {'host': {'changed': n, 'failed': n}}."""
    return {match["host"]: {"changed": int(match["changed"]), "failed": int(match["failed"])}
            for match in RECAP_LINE.finditer(output)}


# ---------------------------------------------------------------- the secret sweep

def secret_forms(secrets: dict[str, list[str]]) -> list[str]:
    """Every secret as it could appear: raw, URL-encoded, base64 alone and, for each of its
    users, base64 of user:secret (a Proxy-Authorization: Basic header, an auths entry)."""
    forms = set()
    for secret, users in secrets.items():
        forms.update((secret, urllib.parse.quote(secret, safe=""), base64.b64encode(secret.encode()).decode()))
        forms.update(base64.b64encode(f"{user}:{secret}".encode()).decode() for user in users)
    return sorted(forms)


def run_playbook_sampling_command_lines(container: str, playbook: str, **options) -> tuple:
    """run_playbook() while the process tables (/proc/*/cmdline) of the host and of the
    controller are sampled every half second: (the run, the samples)."""
    samples, finished = [], threading.Event()
    # One line per process: where it runs, then its command line.
    read_command_lines = r'for f in /proc/[0-9]*/cmdline; do printf "%s: " "$0"; tr "\0" " " < "$f"; echo; done 2>/dev/null'

    def sample():
        while not finished.is_set():
            for command in (["docker", "exec", container, "sh", "-c", read_command_lines, container],
                            ["sh", "-c", read_command_lines, "controller"]):
                samples.append(subprocess.run(command, capture_output=True, text=True, check=False).stdout)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run = run_playbook(playbook, **options)
    finally:
        finished.set()
        sampler.join()
    return run, samples


# World-readable files (the mode and every folder above open to others),
# searched on the host; the secrets come on stdin, never on a command line.
FIND_IN_READABLE_FILES = r"""
import json, os, stat, sys
forms = json.load(sys.stdin)
found = []
for top in ("/etc", "/root", "/var/lib"):
    for folder, subfolders, files in os.walk(top):
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            subfolders[:] = []
            continue
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
                if not stat.S_ISREG(info.st_mode) or not info.st_mode & stat.S_IROTH:
                    continue
                with open(path, "rb") as handle:
                    content = handle.read(16 * 1024 * 1024)
            except OSError:
                continue
            found += [(path, index) for index, form in enumerate(forms) if form.encode() in content]
print(json.dumps(found))
"""


def _where(text: str, form: str, forms: list[str]) -> str:
    """The first three words of the first three lines that hold the form (a process table's
    line starts with where the process runs and its program), a word masked when it holds
    a form or is longer than 40 characters: enough to find the writer, never the secret."""
    starts = []
    for line in text.splitlines():
        if form in line:
            words = ["<masked>" if len(word) > 40 or any(each in word for each in forms) else word
                     for word in line.split()[:3]]
            starts.append(" ".join(words))
            if len(starts) == 3:
                break
    return " (lines starting %s)" % "; ".join(repr(start) for start in starts)


def find_secrets(container: str, forms: list[str], places: dict[str, str]) -> dict[str, list[str]]:
    """Where the forms appear: in the given places (name: text), the journal of every unit of
    the host, corp-proxy's logs and every world-readable file under /etc, /root and /var/lib
    of the host. Only places with hits are returned, each hit named by the form's number, so
    that a failure prints no secret. A place that is empty proves nothing: AssertionError."""
    places = dict(places)
    places["journal of every unit"] = subprocess.run(
        ["docker", "exec", container, "journalctl", "--no-pager", "-o", "cat"],
        capture_output=True, text=True, check=True).stdout
    places["corp-proxy's access log"] = subprocess.run(
        ["docker", "exec", lab_env()["containers"]["proxy"], "sh", "-c", "cat /var/log/squid/*.log"],
        capture_output=True, text=True, check=False).stdout
    empty = [place for place, text in places.items() if not text]
    if empty:
        raise AssertionError("nothing to search in: %s" % ", ".join(empty))
    found = {place: [f"secret form #{index}{_where(text, form, forms)}" for index, form in enumerate(forms)
                     if form in text]
             for place, text in places.items()}
    files = subprocess.run(["docker", "exec", "-i", container, "python3", "-c", FIND_IN_READABLE_FILES],
                           input=json.dumps(forms), capture_output=True, text=True, check=True)
    found["world-readable files under /etc, /root, /var/lib"] = [
        f"{path} holds secret form #{index}" for path, index in json.loads(files.stdout)]
    return {place: hits for place, hits in found.items() if hits}
