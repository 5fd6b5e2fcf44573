# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmarks' ways of measuring measure what they say (docs/performance.md).

benchmarks/site_rerun.py compares site.yml's re-run with a playbook of the
same tasks doing nothing, built from what its callback recorded: that
playbook must have the same recap. benchmarks/module_processes.py reports
the peak memory of each module process: it must be the process's own, not
that of the benchmark that started it.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]
BENCHMARKS = str(REPOSITORY / "benchmarks")
sys.path.insert(0, BENCHMARKS)
try:
    import module_processes  # noqa: E402  (from benchmarks/)
    import site_rerun  # noqa: E402
finally:
    # module_processes imports benchmarks/runner_config.py as "runner_config",
    # a name too general to leave behind for other tests: the benchmarks leave
    # neither their path nor that name behind.
    sys.path.remove(BENCHMARKS)
    sys.modules.pop("runner_config", None)

RECAP = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0\s+skipped=(\d+)", re.MULTILINE)

# A play of every kind of task site.yml's re-run has: facts, modules on the
# host (one over a loop), controller-only actions, a role's argument check,
# an include over a loop, skipped tasks.
SAMPLE_TASKS = """\
- name: Run a command on the host
  ansible.builtin.command: /bin/true
  changed_when: false
- name: Run it for each item
  ansible.builtin.command: /bin/true
  changed_when: false
  loop: [1, 2, 3]
- name: Set a fact
  ansible.builtin.set_fact:
    sample: true
- name: Check it
  ansible.builtin.assert:
    that: sample
    quiet: true
- name: Skip this
  ansible.builtin.ping:
  when: false
- name: Include a file for each item
  ansible.builtin.include_tasks: included.yml
  loop: [a, b]
- name: Read the services
  ansible.builtin.service_facts:
"""


def run_playbook(playbook, environment):
    completed = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
                               env=environment, capture_output=True, text=True, check=True)
    return tuple(int(value) for value in RECAP.search(completed.stdout).groups())


def test_the_floor_has_the_recap_of_the_play_it_stands_for(tmp_path):
    role = tmp_path / "roles" / "sample"
    (role / "tasks").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "tasks" / "main.yml").write_text(SAMPLE_TASKS)
    (role / "tasks" / "included.yml").write_text("- name: Note the item\n  ansible.builtin.debug:\n    msg: '{{ item }}'\n")
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      sample_option:\n        type: str\n        default: x\n")
    playbook = tmp_path / "sample.yml"
    playbook.write_text("- name: Sample\n  hosts: all\n  gather_facts: true\n  roles:\n    - role: sample\n")
    tally_file = tmp_path / "tally.json"
    environment = dict(os.environ, ANSIBLE_ROLES_PATH=str(tmp_path / "roles"), ANSIBLE_PYTHON_INTERPRETER=sys.executable,
                       ANSIBLE_CALLBACK_PLUGINS=str(site_rerun.TALLY_CALLBACKS),
                       ANSIBLE_CALLBACKS_ENABLED="task_tally", BENCH_TASK_TALLY=str(tally_file))

    ok, changed, skipped = run_playbook(playbook, environment)
    tally = json.loads(tally_file.read_text())
    floor = site_rerun.floor_playbook(tally, "localhost")
    floor_file = tmp_path / "floor.yml"
    floor_file.write_text(yaml.safe_dump(floor))

    assert run_playbook(floor_file, environment) == (ok, 0, skipped)
    kinds = [site_rerun.kind_of(entry) for entry in tally]
    assert kinds.count("fact gathering") == 2          # gather_facts and service_facts
    assert kinds.count("other module on the host") == 2
    assert kinds.count("skipped") == 1
    by_action = {entry["action"]: entry for entry in tally}
    assert by_action["validate_argument_spec"]["where"] == "controller"
    assert by_action["command"]["where"] == "host"
    assert [entry["items"] for entry in tally if entry["action"] == "command"] == [None, 3]
    floor_tasks = floor[0]["tasks"]
    assert sum("ansible.builtin.set_fact" in task for task in floor_tasks) == kinds.count("on the controller only") + 1
    assert sum("ansible.builtin.ping" in task for task in floor_tasks) == len(tally) - kinds.count("on the controller only")

    # The breakdown by action: site.yml's tasks on the host against the floor's pings for them.
    floor_tally_file = tmp_path / "floor-tally.json"
    run_playbook(floor_file, dict(environment, BENCH_TASK_TALLY=str(floor_tally_file)))
    site_run, floor_run = Tallied(tally), Tallied(json.loads(floor_tally_file.read_text()))
    rows, ping = site_rerun.actions_over_ping([site_run], [floor_run])
    pings = [entry["seconds"] for entry in floor_run.tally if entry["action"] == "ping" and entry["status"] != "skipped"]
    assert len(pings) == 4 and ping == sum(pings) / 4
    by_row = {row[0]: row for row in rows}
    assert set(by_row) == {"gather_facts", "service_facts", "command"}
    command_seconds = sum(entry["seconds"] for entry in tally if entry["action"] == "command")
    assert by_row["command"][1:3] == (2, 4)
    assert by_row["command"][3] == command_seconds / 2
    assert abs(by_row["command"][5] - (command_seconds - 2 * ping)) < 1e-9
    assert [row[5] for row in rows] == sorted((row[5] for row in rows), reverse=True)


class Tallied:
    """A run as site_rerun's report reads it: its tally."""

    def __init__(self, tally):
        self.tally = tally


def test_a_process_s_peak_memory_is_its_own_not_the_benchmark_s(tmp_path):
    # The benchmark holds far more memory than a bare Python start needs.
    ballast = bytearray(200 * 1024 * 1024)
    for offset in range(0, len(ballast), 4096):
        ballast[offset] = 1
    case = module_processes.Case("python -c pass", None)
    case.argv = [sys.executable, "-c", "pass"]

    dummy_seconds, dummy_cpu, memory = module_processes.run_once(case, tmp_path)

    assert 1024 < memory < 100 * 1024, memory
    assert len(ballast) == 200 * 1024 * 1024
