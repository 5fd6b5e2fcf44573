# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wall time and peak memory of each module's process, run as Ansible runs it on a host, in one run.

The collection's file-editing modules run on the managed host, one Python
process per task. This builds each module's AnsiballZ payload - the very
file Ansible sends to a host - with ansible-playbook on localhost
(connection local, ANSIBLE_KEEP_REMOTE_FILES, no pipelining), then runs
every payload several times in turn with this Python (`make bench` uses
the one with Debian 12's tomlkit 0.11.7, what managed hosts have) and
measures each process: wall time and peak resident memory (ru_maxrss, from
wait4). Every input file is put back before each run, so each run does the
same work.

The cases: a bare `python -c pass` and ansible.builtin.ping (the floor of
any module process); runner_config's edit of one runner on config.toml
files of 1, 100 and 1,000 runners (the one-runner file is the module's
fixed start-up: the same work on the smallest file), the same edit
already made (nothing to change) and in diff mode on 1,000 runners;
runner_register on a 1,000-runner file against the lab's fake GitLab on
127.0.0.1 (tests/lab/fakegitlab, in this process), registering (its token
verified, its entry written) and verifying only (already registered);
docker_json_config editing a large daemon.json, and with nothing to change.

Run: make bench. It exits non-zero when a target is missed. Results go to
docs/performance.md by hand, with the date and the machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import tomlkit

from runner_config import config_text, last_runner_edit_arguments

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
FAKE_GITLAB = REPOSITORY / "tests" / "lab" / "fakegitlab" / "server.py"
# Debian package time (tests/lab/bin/host-packages installs it).
GNU_TIME = "/usr/bin/time"

# The targets this benchmark checks (docs/performance.md says why).
MAX_LARGEST_OVER_START_UP = 10.0   # runner_config on 1,000 runners, over its run on one runner
MAX_GROWTH_PER_RUNNER = 1.3        # cost per runner from 100 to 1,000 runners, over that up to 100: linear


def daemon_json(entries: int) -> str:
    """A daemon.json far larger than real ones: many registries, labels and address pools."""
    return json.dumps({
        "storage-driver": "overlay2",
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
        "insecure-registries": ["registry-%d.corp.example.test:5000" % index for index in range(entries)],
        "registry-mirrors": ["https://mirror-%d.corp.example.test" % index for index in range(10)],
        "labels": ["rack=r%d" % index for index in range(entries)],
        "default-address-pools": [{"base": "10.%d.%d.0/24" % (index // 256, index % 256), "size": 26}
                                  for index in range(entries // 5)],
        "live-restore": False,
    }, indent=2) + "\n"


class Case:
    """One module run: its payload's task, the files it edits (put back before each run), what it should report."""

    def __init__(self, name, task, files=None, changed=None, keep_after_build=()):
        self.name = name
        self.task = task
        # path -> bytes to put back before each run; the paths in
        # keep_after_build get what one run of the payload leaves there
        # (the edit made: nothing to change any more).
        self.files = files or {}
        self.keep_after_build = keep_after_build
        self.changed = changed
        self.argv = None
        self.payload_dir = None
        self.seconds = []
        self.cpu = []
        self.memory = []

    @property
    def size(self):
        return sum(len(content) for content in self.files.values())


def load_fake_gitlab():
    spec = importlib.util.spec_from_file_location("bench_fakegitlab_server", FAKE_GITLAB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeGitLab:
    """The lab's fake GitLab API on a free port of 127.0.0.1, served by threads of this process."""

    def __init__(self):
        server = load_fake_gitlab()
        # No state directory: it keeps its state in memory only.
        self.gitlab = server.FakeGitLab()
        quiet_handler = type("QuietApiHandler", (server.ApiHandler,), {"log_message": lambda *arguments: None})
        self.server = server.make_server(quiet_handler, self.gitlab, "127.0.0.1", 0)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        status, created = self.gitlab.create_user_runner({"runner_type": "instance_type"},
                                                         server.LAB_PERSONAL_ACCESS_TOKEN)
        assert status == 201
        self.runner_token = created["token"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def cases(work, gitlab):
    cases = [Case("python -c pass", None), Case("ansible.builtin.ping", {"ansible.builtin.ping": {}}, changed=False)]
    for runners in (1, 100, 1000):
        path = work / ("config-%d.toml" % runners)
        cases.append(Case("runner_config, edit, %d runner%s" % (runners, "" if runners == 1 else "s"),
                          {"behindproxy.gitlab_runner.runner_config": dict(last_runner_edit_arguments(runners),
                                                                           path=str(path))},
                          files={path: config_text(runners).encode()}, changed=True))
    large = config_text(1000).encode()
    for label, extra in (("nothing to change", {}), ("diff mode", {"diff": True})):
        path = work / ("config-1000-%s.toml" % label.replace(" ", "-"))
        cases.append(Case("runner_config, %s, 1000 runners" % label,
                          dict({"behindproxy.gitlab_runner.runner_config": dict(last_runner_edit_arguments(1000),
                                                                                path=str(path))}, **extra),
                          files={path: large}, changed=bool(extra),
                          keep_after_build=(path,) if not extra else ()))
    for label, registered in (("registering", False), ("verifying only", True)):
        directory = work / ("register-%s" % label.replace(" ", "-"))
        directory.mkdir()
        path = directory / "config.toml"
        # no_log, as role gitlab_runner runs it: the task holds a token.
        cases.append(Case("runner_register, %s, 1000 runners" % label,
                          {"behindproxy.gitlab_runner.runner_register": {
                              "path": str(path), "name": "bench-registered", "url": gitlab.url,
                              "token": gitlab.runner_token, "proxy": ""}, "no_log": True},
                          files={path: large}, changed=not registered,
                          keep_after_build=(path,) if registered else ()))
    daemon = daemon_json(1000).encode()
    for label, unchanged in (("edit", False), ("nothing to change", True)):
        path = work / ("daemon-%s.json" % label.replace(" ", "-"))
        cases.append(Case("docker_json_config, %s, large daemon.json" % label,
                          {"behindproxy.gitlab_runner.docker_json_config": {
                              "path": str(path), "settings": {"registry-mirrors": ["http://172.17.0.1:5000"],
                                                              "live-restore": True},
                              "list_merge": "union"}},
                          files={path: daemon}, changed=not unchanged,
                          keep_after_build=(path,) if unchanged else ()))
    return cases


def put_back(case):
    for path, content in case.files.items():
        path.write_bytes(content)


def build_payloads(work, cases):
    """Run each case's task once with ansible-playbook, keeping the AnsiballZ file it ran.

    The payload holds the task's arguments, not the file's content: it is
    built on empty files, which is quick. A case that starts from the edit
    already made then runs its payload once on its input, untimed, and keeps
    the result as its input.
    """
    tasks = []
    for number, case in enumerate(cases):
        if case.task is None:
            case.argv = [sys.executable, "-c", "pass"]
            continue
        for path in case.files:
            path.write_bytes(b"{}\n" if path.suffix == ".json" else b"")
        case.payload_dir = work / "payloads" / ("%02d" % number)
        tasks.append(dict(case.task, name=case.name, vars={"ansible_remote_tmp": str(case.payload_dir)}))
    playbook = work / "build-payloads.yml"
    playbook.write_text(json.dumps([{"name": "Build the payloads", "hosts": "localhost", "connection": "local",
                                     "gather_facts": False,
                                     "vars": {"ansible_python_interpreter": sys.executable},
                                     "tasks": tasks}]))
    environment = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_PIPELINING="False",
                       ANSIBLE_LOCAL_TEMP=str(work / "local"), ANSIBLE_RETRY_FILES_ENABLED="False")
    completed = subprocess.run(["ansible-playbook", "-i", "localhost,", str(playbook)], env=environment,
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError("building the payloads failed:\n" + completed.stdout[-3000:] + completed.stderr[-3000:])
    for case in cases:
        if case.task is None:
            continue
        payloads = list(case.payload_dir.glob("ansible-tmp-*/AnsiballZ_*.py"))
        if len(payloads) != 1:
            raise RuntimeError("%s: expected one AnsiballZ file under %s, found %d" % (
                case.name, case.payload_dir, len(payloads)))
        case.argv = [sys.executable, str(payloads[0])]
        if case.keep_after_build:
            run_once(case, work, check=False)
            for path in case.keep_after_build:
                case.files[path] = path.read_bytes()


def run_once(case, work, check=True):
    """Run the case's process once: (wall seconds, CPU seconds, peak RSS in KiB).

    Through GNU time, which reads the process's rusage: a process started
    straight from this one would report at least this process's own memory
    (Linux keeps the peak of the memory a process had before its exec).
    """
    put_back(case)
    output_path = work / "output.json"
    memory_path = work / "memory.txt"
    with open(output_path, "wb") as output:
        started = time.perf_counter()
        completed = subprocess.run([GNU_TIME, "--format", "%U %S %M", "--output", str(memory_path)] + case.argv,
                                   stdout=output, stderr=subprocess.STDOUT, cwd=work, check=False)
        seconds = time.perf_counter() - started
    text = output_path.read_text(encoding="utf-8", errors="replace")
    if completed.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (case.name, completed.returncode, text[-2000:]))
    if check and case.changed is not None:
        result = json.loads(text)
        if result.get("failed") or bool(result.get("changed")) != case.changed:
            raise RuntimeError("%s: expected changed=%s, got %s" % (case.name, case.changed, text[-2000:]))
    user, system, memory = memory_path.read_text().splitlines()[-1].split()
    return seconds, float(user) + float(system), int(memory)


def spread(values, form):
    return " / ".join(form % value for value in (min(values), statistics.median(values), max(values)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()

    loads = [os.getloadavg()[0]]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-modules-") as directory:
        work = pathlib.Path(directory)
        gitlab = FakeGitLab()
        try:
            all_cases = cases(work, gitlab)
            build_payloads(work, all_cases)
            for dummy in range(arguments.repeats):
                for case in all_cases:
                    seconds, cpu, memory = run_once(case, work)
                    case.seconds.append(seconds)
                    case.cpu.append(cpu)
                    case.memory.append(memory / 1024)
                loads.append(os.getloadavg()[0])
        finally:
            gitlab.close()

    print("Python %s, tomlkit %s; %d runs of each case, in turn; load average %s (min / median / max); %.0f s\n" % (
        sys.version.split()[0], tomlkit.__version__, arguments.repeats, spread(loads, "%.2f"),
        time.monotonic() - started))
    ping = all_cases[1]
    print("| process | input | wall time (min / median / max) | CPU time (min / median / max) "
          "| peak RSS, MiB (min / median / max) | RSS over ping's (median) |")
    print("|---|---|---|---|---|---|")
    for case in all_cases:
        print("| %s | %s | %s s | %s s | %s | %+.1f MiB |" % (
            case.name, "%d KB" % (case.size // 1000) if case.files else "-", spread(case.seconds, "%.2f"),
            spread(case.cpu, "%.2f"), spread(case.memory, "%.1f"),
            statistics.median(case.memory) - statistics.median(ping.memory)))

    # The targets are checked on CPU time: on a shared machine, wall time
    # also counts the time the process waited for a core.
    cpu = {case.name: statistics.median(case.cpu) for case in all_cases}
    wall = {case.name: statistics.median(case.seconds) for case in all_cases}
    start_up, hundred, largest, unchanged = (
        cpu["runner_config, edit, 1 runner"], cpu["runner_config, edit, 100 runners"],
        cpu["runner_config, edit, 1000 runners"], cpu["runner_config, nothing to change, 1000 runners"])
    growth = ((largest - start_up) / 999) / ((hundred - start_up) / 99)
    print("\nrunner_config on 1,000 runners, CPU time: %.1f x its start-up (one runner, %.2f s); nothing to change: "
          "%.1f x; wall time: %.1f x; cost per runner from 100 to 1,000 runners: %.2f x that up to 100" % (
              largest / start_up, start_up, unchanged / start_up,
              wall["runner_config, edit, 1000 runners"] / wall["runner_config, edit, 1 runner"], growth))
    failures = []
    if largest / start_up > MAX_LARGEST_OVER_START_UP:
        failures.append("runner_config on 1,000 runners takes %.1f x its start-up (target <= %s)" % (
            largest / start_up, MAX_LARGEST_OVER_START_UP))
    if growth > MAX_GROWTH_PER_RUNNER:
        failures.append("runner_config's cost per runner grows %.2f x from 100 to 1,000 runners (target <= %s)" % (
            growth, MAX_GROWTH_PER_RUNNER))
    for failure in failures:
        print("MISSED: " + failure)
    print("all targets met" if not failures else "%d target(s) missed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
