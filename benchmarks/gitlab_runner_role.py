# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What configuring and registering 1, 10 and 100 runners on one host costs, against a regular-expression approach.

The role's side is the gitlab_runner role's own task file for the runners
(roles/gitlab_runner/tasks/register.yml: the gitlab_runner_entries filter
and one runner_register task), imported into a play on localhost
(connection: local) with the facts its preflight and install steps would
have set given as variables: the proxy environment of the jobs, the runner's
version, "nothing pending", and config.toml in a temporary folder (the
role's internal __gitlab_runner_config_path: the role has no public variable
for it, because the runner's service reads /etc/gitlab-runner/config.toml).
Install, service and verification do not depend on the number of runners and
are not run. GitLab is the lab's fake GitLab on 127.0.0.1, reached directly;
the runners are made in it beforehand with its access token, as a user makes
them in GitLab's UI, and registered with their glrt- tokens.

The other side does the same with one ansible.builtin.lineinfile per
setting per runner, the shape of the most used role for this job
(riemers/ansible-gitlab-runner: a file per runner section edited line by
line, then assembled): per runner an ansible.builtin.uri call to
POST /api/v4/runners/verify (the registration: the same call the module
makes), one lineinfile for each key the role writes (the section header,
name, url, id, token, executor, environment, pre_get_sources_script, the
[runners.docker] header, image, pull_policy), then one ansible.builtin.assemble
of the sections into config.toml. The values are those the role computes
(the same filter), and after every round both config.toml files are read
with tomllib and must hold the same runners.

Each play is timed (a callback in benchmarks/callback_plugins records when
each play and task starts and ends), and so is a play of one no-op task
(ansible.builtin.ping: a module run on the host that does nothing) next to
each size, in the same run, on the same host. Several rounds; the order of
the two approaches alternates from round to round. The lineinfile approach
at 100 runners runs 2,600 tasks a round (some 10 to 30 minutes on a shared
machine): by default it runs in the first round only (--slow-rounds). The modules run with the
Python of .venv-tomlkit-0.11.7 (Debian 12's tomlkit, which the module meets on
managed hosts) when it exists.

Run: make bench-role. It exits non-zero when a target is missed. Results go to
docs/performance.md by hand, with the date, the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request

import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "build" / "collections"))

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.gitlab_runner import (  # noqa: E402
    gitlab_runner_entries,
)

SIZES = (1, 10, 100)
# The targets this benchmark checks (docs/performance.md says why).
MIN_SPEEDUP_AT_100 = 50.0          # the role against one lineinfile per setting per runner, first run and re-run
MAX_RERUN_OVER_NOOP = 3.0          # a re-run of 100 runners against one no-op task
PROXY = "http://172.17.0.1:3128"
JOB_PROXY_ENVIRONMENT = {"HTTP_PROXY": PROXY, "http_proxy": PROXY, "HTTPS_PROXY": PROXY, "https_proxy": PROXY,
                         "NO_PROXY": "localhost,127.0.0.1,172.17.0.1", "no_proxy": "localhost,127.0.0.1,172.17.0.1"}
DOCKER_SETTINGS = {"docker": {"image": "behindproxy/job-busybox:lab", "pull_policy": ["if-not-present"]}}
RUNNER_VERSION = "17.11.0"
# One system id for every config.toml of the run, both approaches: each runner has this one manager.
SYSTEM_ID = "r_bench0000001"
# The keys both approaches write; the module also writes token_obtained_at and token_expires_at.
COMPARED_KEYS = ("name", "url", "id", "token", "executor", "environment", "pre_get_sources_script", "docker")

# The regular-expression approach's tasks for one runner (loop variable: runner).
REGEX_RUNNER_TASKS = r"""
- name: Register {{ runner.name }} (verify its token with this host's system id)
  ansible.builtin.uri:
    url: "{{ runner.url }}api/v4/runners/verify"
    method: POST
    body_format: json
    body: {token: "{{ runner.token }}", system_id: "{{ bench_system_id }}"}
    status_code: 200
  register: bench_verified
  no_log: true

- name: Runner section of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\[\[runners\]\]$'
    line: "[[runners]]"
    insertbefore: BOF
    create: true
    mode: "0600"

- name: Name of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*name ='
    line: "  name = {{ runner.name | to_json }}"
    insertafter: '^\[\[runners\]\]$'

- name: URL of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*url ='
    line: "  url = {{ runner.url | to_json }}"
    insertafter: '^\s*name ='

- name: Id of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*id ='
    line: "  id = {{ bench_verified.json.id }}"
    insertafter: '^\s*url ='

- name: Token of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*token ='
    line: "  token = {{ runner.token | to_json }}"
    insertafter: '^\s*id ='
  no_log: true

- name: Executor of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*executor ='
    line: "  executor = {{ runner.executor | to_json }}"
    insertafter: '^\s*token ='

- name: Job environment of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*environment ='
    line: "  environment = {{ runner.environment | to_json }}"
    insertafter: '^\s*executor ='

- name: Git through the proxy for {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*pre_get_sources_script ='
    line: "  pre_get_sources_script = {{ runner.pre_get_sources_script | to_json }}"
    insertafter: '^\s*environment ='

- name: Docker section of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*\[runners\.docker\]'
    line: "  [runners.docker]"
    insertafter: EOF

- name: Job image of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*image ='
    line: "    image = {{ runner.image | to_json }}"
    insertafter: '^\s*\[runners\.docker\]'

- name: Pull policy of {{ runner.name }}
  ansible.builtin.lineinfile:
    path: "{{ bench_section }}"
    regexp: '^\s*pull_policy ='
    line: "    pull_policy = {{ runner.pull_policy | to_json }}"
    insertafter: '^\s*image ='
"""


# ----------------------------------------------------------------- the fake GitLab

class FakeGitLab:
    """tests/lab/fakegitlab/server.py on 127.0.0.1, in its own process."""

    def __init__(self, directory: pathlib.Path):
        state = directory / "gitlab-state"
        state.mkdir()
        self.process = subprocess.Popen(
            [sys.executable, str(REPOSITORY / "tests" / "lab" / "fakegitlab" / "server.py"), "--address", "127.0.0.1",
             "--http-port", "0", "--control-address", "127.0.0.1", "--control-port", "0", "--state-dir", str(state)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started = json.loads(self.process.stdout.readline())
        self.url = "http://127.0.0.1:%d/" % started["ports"]["http"]
        self.access_token = started["personal_access_token"]

    def call(self, endpoint: str, body: dict, headers: dict) -> dict:
        request = urllib.request.Request(self.url + "api/v4/" + endpoint, data=json.dumps(body).encode(), method="POST",
                                         headers=dict(headers, **{"Content-Type": "application/json"}))
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def runner_tokens(self, count: int) -> list[str]:
        """Runners made as a user makes them in GitLab's UI, each already holding SYSTEM_ID as its manager."""
        tokens = []
        for dummy in range(count):
            made = self.call("user/runners", {"runner_type": "instance_type"}, {"PRIVATE-TOKEN": self.access_token})
            self.call("runners/verify", {"token": made["token"], "system_id": SYSTEM_ID}, {})
            tokens.append(made["token"])
        return tokens

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


# ---------------------------------------------------------------- the playbooks

def inventory_runners(gitlab: FakeGitLab, tokens: list[str], count: int) -> list[dict]:
    return [{"name": "runner-%03d" % index, "url": gitlab.url, "token": tokens[index], "settings": DOCKER_SETTINGS}
            for index in range(count)]


def regex_runners(runners: list[dict], sections: pathlib.Path) -> list[dict]:
    """The values the regex approach writes: those the role computes, with the same filter."""
    entries = gitlab_runner_entries(runners, environment=JOB_PROXY_ENVIRONMENT,
                                    compose_project_name="ci-job-${CI_JOB_ID}", runner_version=RUNNER_VERSION)
    return [{"name": entry["name"], "url": entry["url"], "token": entry["token"], "executor": "docker",
             "section": str(sections / ("%03d.toml" % index)),
             "environment": ["%s=%s" % item for item in entry["environment"].items()],
             "pre_get_sources_script": entry["settings"]["pre_get_sources_script"],
             "image": entry["settings"]["docker"]["image"], "pull_policy": entry["settings"]["docker"]["pull_policy"]}
            for index, entry in enumerate(entries)]


def play(name: str, tasks: list, variables: dict | None = None) -> dict:
    return {"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False,
            "vars": variables or {}, "tasks": tasks}


def role_play(name: str, runners: list[dict], config: pathlib.Path) -> dict:
    role_facts = {
        "gitlab_runner_runners": runners,
        "__gitlab_runner_config_path": str(config),
        "__gitlab_runner_environment": JOB_PROXY_ENVIRONMENT,
        "__gitlab_runner_runner_version": RUNNER_VERSION,
        "__gitlab_runner_repository_pending": False,
        "__gitlab_runner_modules_pending": False,
        # GitLab is on this host: reached directly.
        "gitlab_runner_http_proxy": "",
        "gitlab_runner_https_proxy": "",
    }
    return play(name, [{"name": "The gitlab_runner role's runner tasks", "ansible.builtin.import_role": {
        "name": "behindproxy.gitlab_runner.gitlab_runner", "tasks_from": "register.yml"}, "vars": role_facts}])


def regex_play(name: str, runners: list[dict], sections: pathlib.Path, config: pathlib.Path,
               tasks_file: pathlib.Path) -> dict:
    return play(name, [
        {"name": "Each runner, one lineinfile per setting", "ansible.builtin.include_tasks": str(tasks_file),
         "loop": runners, "loop_control": {"loop_var": "runner", "label": "{{ runner.name }}"},
         "vars": {"bench_section": "{{ runner.section }}"}},
        {"name": "Assemble config.toml from the runner sections", "ansible.builtin.assemble": {
            "src": str(sections), "dest": str(config), "mode": "0600"}},
    ], {"bench_system_id": SYSTEM_ID})


def noop_play(name: str) -> dict:
    return play(name, [{"name": "No-op task", "ansible.builtin.ping": {}}])


def fresh_role_config(directory: pathlib.Path) -> pathlib.Path:
    directory.mkdir(parents=True)
    system_id = directory / ".runner_system_id"
    system_id.write_text(SYSTEM_ID)
    system_id.chmod(0o600)
    return directory / "config.toml"


def round_playbook(work: pathlib.Path, gitlab: FakeGitLab, tokens: list[str], number: int,
                   tasks_file: pathlib.Path, sizes: tuple[int, ...], slow_rounds: int) -> tuple[list[dict], dict]:
    """The plays of one round and, per size, the two config.toml files it writes.

    The lineinfile approach at the largest size runs in the first ``slow_rounds`` rounds only.
    """
    plays, configs = [], {}
    for size in sizes:
        runners = inventory_runners(gitlab, tokens, size)
        role_config = fresh_role_config(work / ("round-%d" % number) / ("role-%d" % size))
        sections = work / ("round-%d" % number) / ("regex-%d" % size) / "sections"
        sections.mkdir(parents=True)
        regex_config = sections.parent / "config.toml"
        regex = regex_runners(runners, sections)
        role = [role_play("role %d first" % size, runners, role_config),
                role_play("role %d again" % size, runners, role_config)]
        other = [regex_play("regex %d first" % size, regex, sections, regex_config, tasks_file),
                 regex_play("regex %d again" % size, regex, sections, regex_config, tasks_file)]
        if size == max(sizes) and number >= slow_rounds:
            other = []
        plays.append(noop_play("noop %d" % size))
        plays.extend(role + other if number % 2 == 0 else other + role)
        plays.append(noop_play("noop %d after" % size))
        configs[size] = (role_config, regex_config if other else None)
    return plays, configs


# ------------------------------------------------------------------- running

def python_for_modules() -> str:
    debian = REPOSITORY / ".venv-tomlkit-0.11.7" / "bin" / "python"
    return str(debian) if debian.exists() else sys.executable


def run_round(work: pathlib.Path, plays: list[dict], number: int) -> list[dict]:
    playbook = work / ("round-%d.yml" % number)
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    playbook.chmod(0o600)
    times = work / ("round-%d-times.json" % number)
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPOSITORY / "build" / "collections"),
                       ANSIBLE_CALLBACK_PLUGINS=str(REPOSITORY / "benchmarks" / "callback_plugins"),
                       ANSIBLE_CALLBACKS_ENABLED="bench_times", BENCH_TIMES_FILE=str(times),
                       ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1")
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
               "-e", "ansible_python_interpreter=%s" % python_for_modules(), str(playbook)]
    with open(work / ("round-%d.log" % number), "w", encoding="utf-8") as log:
        finished = subprocess.run(command, cwd=str(work), env=environment, stdout=log, stderr=subprocess.STDOUT,
                                  check=False)
    if finished.returncode != 0:
        raise SystemExit("round %d failed: see %s" % (number, work / ("round-%d.log" % number)))
    return json.loads(times.read_text())


def check_same_runners(configs: dict):
    """Both approaches wrote the same runners (the keys both write)."""
    for size, (role_config, regex_config) in configs.items():
        if regex_config is None:
            continue
        role = tomllib.loads(role_config.read_text())["runners"]
        regex = tomllib.loads(regex_config.read_text())["runners"]
        shown = [[{key: entry.get(key) for key in COMPARED_KEYS} for entry in entries] for entries in (role, regex)]
        if shown[0] != shown[1] or len(role) != size:
            raise SystemExit("%d runners: the two config.toml files differ" % size)


def play_seconds(played: dict) -> float:
    return played["end"] - played["start"]


def task_seconds(played: dict) -> float:
    """The time of the play's tasks, without the play's own start."""
    return sum(task["end"] - task["start"] for task in played["tasks"] if task["end"] is not None)


def check_reruns_change_nothing(plays: list[dict]):
    for played in plays:
        if played["name"].endswith(" again") and any(task["changed"] for task in played["tasks"]):
            raise SystemExit("%s reported a change" % played["name"])


def spread(values: list[float]) -> str:
    """min / median / max, and how many runs when there are not as many as rounds."""
    return "%.2f / %.2f / %.2f (%d)" % (min(values), statistics.median(values), max(values), len(values))


def report(rounds: list[list[dict]], loads: list[tuple[float, float]], sizes: tuple[int, ...]) -> list[str]:
    by_name: dict[str, list[dict]] = {}
    for plays in rounds:
        for played in plays:
            by_name.setdefault(played["name"], []).append(played)

    def seconds(name, measure=play_seconds):
        return [measure(played) for played in by_name[name]]

    def median(name, measure=play_seconds):
        return statistics.median(seconds(name, measure))

    print("Python %s, %d rounds, %d cores, load average %s\n" % (
        sys.version.split()[0], len(rounds), os.cpu_count(),
        ", ".join("%.1f-%.1f" % load for load in loads)))
    print("Seconds per play (its tasks and the play's own start), min / median / max (number of runs):\n")
    print("| runners | role, first run | role, re-run | lineinfile, first run | lineinfile, re-run "
          "| role re-run, its tasks | no-op task |")
    print("|---|---|---|---|---|---|---|")
    for size in sizes:
        print("| %d | %s | %s | %s | %s | %s | %s |" % (
            size, spread(seconds("role %d first" % size)), spread(seconds("role %d again" % size)),
            spread(seconds("regex %d first" % size)), spread(seconds("regex %d again" % size)),
            spread(seconds("role %d again" % size, task_seconds)),
            spread(seconds("noop %d" % size, task_seconds) + seconds("noop %d after" % size, task_seconds))))
    print("\nRatios of medians:\n")
    print("| runners | lineinfile / role, first run | lineinfile / role, re-run | role re-run (tasks) / no-op task "
          "| role per runner, first run | lineinfile per runner, first run |")
    print("|---|---|---|---|---|---|")
    failures = []
    for size in sizes:
        noop = statistics.median(seconds("noop %d" % size, task_seconds) + seconds("noop %d after" % size, task_seconds))
        first = median("regex %d first" % size) / median("role %d first" % size)
        again = median("regex %d again" % size) / median("role %d again" % size)
        over_noop = median("role %d again" % size, task_seconds) / noop
        print("| %d | %.0f x | %.0f x | %.2f | %.3f s | %.3f s |" % (
            size, first, again, over_noop, median("role %d first" % size) / size,
            median("regex %d first" % size) / size))
        if size == 100:
            if first < MIN_SPEEDUP_AT_100 or again < MIN_SPEEDUP_AT_100:
                failures.append("at 100 runners the role is %.0f x (first run) and %.0f x (re-run) faster than "
                                "lineinfile (target >= %.0f x)" % (first, again, MIN_SPEEDUP_AT_100))
            if over_noop > MAX_RERUN_OVER_NOOP:
                failures.append("a re-run of 100 runners costs %.2f no-op tasks (target <= %.1f)"
                                % (over_noop, MAX_RERUN_OVER_NOOP))
    for kind in ("first", "again"):
        times = [median("role %d %s" % (size, kind)) for size in sizes]
        steps = ", ".join("%d -> %d runners %.2f x the time (%.1f ms per added runner)"
                          % (small, large, later / earlier, (later - earlier) / (large - small) * 1000)
                          for small, large, earlier, later in zip(sizes, sizes[1:], times, times[1:]))
        print("\nrole, %s: %s" % ("first run" if kind == "first" else "re-run", steps))
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slow-rounds", type=int, default=1,
                        help="rounds in which the lineinfile approach runs at the largest size (default: "
                             "%(default)s; at 100 runners it runs some 2,600 tasks a round)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="numbers of runners, comma-separated (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (playbooks, logs, files)")
    arguments = parser.parse_args()
    sizes = tuple(int(size) for size in arguments.sizes.split(","))

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-gitlab-runner-role-"))
    work.chmod(0o700)
    tasks_file = work / "regex-runner.yml"
    tasks_file.write_text(REGEX_RUNNER_TASKS)
    gitlab = FakeGitLab(work)
    started = time.monotonic()
    try:
        tokens = gitlab.runner_tokens(max(sizes))
        rounds, loads = [], []
        for number in range(arguments.rounds):
            plays, configs = round_playbook(work, gitlab, tokens, number, tasks_file, sizes, arguments.slow_rounds)
            before = os.getloadavg()[0]
            played = run_round(work, plays, number)
            loads.append((before, os.getloadavg()[0]))
            check_same_runners(configs)
            check_reruns_change_nothing(played)
            rounds.append(played)
            print("round %d done (%.0f s so far)" % (number + 1, time.monotonic() - started), file=sys.stderr)
        failures = report(rounds, loads, sizes)
    finally:
        gitlab.stop()
        if arguments.keep:
            print("\nkept %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work)
    print("\nthe whole benchmark took %.0f s" % (time.monotonic() - started))
    for failure in failures:
        print("TARGET MISSED: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
