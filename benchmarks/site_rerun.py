# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long a re-run of site.yml takes on converged lab hosts, against a floor, in one run.

Brings up the five corp hosts of the Molecule scenario `bench` (every role
on: docker_proxy, cntlm, registry_mirror, gitlab_runner with three runners)
and converges them with site.yml through Molecule, then, with
ansible-playbook run directly on Molecule's inventory and ansible.cfg (the
same connection settings, pipelining on):

1. one re-run of site.yml on the first host with a callback
   (callback_plugins/task_tally.py) that records every task: from it, a
   playbook of the same number of tasks that do nothing is written - a
   ping for each task that ran a module on the host, a set_fact for each
   that ran on the controller only (assert, set_fact, include_tasks, ...),
   a skipped ping for each skipped task;
2. rounds, alternating: site.yml re-run on one host, that playbook on the
   same host (their order swapped every other round), site.yml on three
   hosts, on five hosts (forks 5);
3. Molecule's destroy, whatever happened.

It prints markdown tables (minimum, median, maximum of the rounds) with the
load average and how busy the machine's cores were, and exits non-zero when
the re-run costs more than the target times the floor or a re-run changed
something. Run it with `make bench-lab`, which holds the lab's lock: the lab
is shared. Results go to docs/performance.md by hand.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
SCENARIO = "bench"
HOSTS = tuple("behindproxy-bench-host-%d" % number for number in range(1, 6))
HOST_COUNTS = (1, 3, 5)
WORK = REPOSITORY / "build" / "bench"
# The scenario's ephemeral directory, chosen here so that its inventory and
# ansible.cfg are known (Molecule honours this variable).
EPHEMERAL = WORK / "molecule-bench"
TALLY_CALLBACKS = pathlib.Path(__file__).resolve().parent / "callback_plugins"

# The target (docs/performance.md says why).
MAX_RERUN_OVER_FLOOR = 1.3

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.MULTILINE)


class LoadSampler(threading.Thread):
    """The one-minute load average every few seconds, while the benchmark runs."""

    def __init__(self, interval=5.0):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.samples.append(os.getloadavg()[0])
            self.stopped.wait(self.interval)


def cpu_jiffies():
    """(busy, total) jiffies of all the machine's cores, from /proc/stat."""
    fields = [int(value) for value in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Run:
    """One timed command: its wall time, what it cost, its output."""

    def __init__(self, label, command, environment, log):
        self.label = label
        busy, total = cpu_jiffies()
        cpu = children_cpu_seconds()
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as output:
            completed = subprocess.run(command, env=environment, stdout=output, stderr=subprocess.STDOUT,
                                       cwd=REPOSITORY, check=False)
        self.seconds = time.monotonic() - started
        self.controller_cpu = children_cpu_seconds() - cpu
        busy_after, total_after = cpu_jiffies()
        self.busy_cores = (busy_after - busy) / max(total_after - total, 1) * os.cpu_count()
        self.load = os.getloadavg()[0]
        self.output = pathlib.Path(log).read_text(encoding="utf-8")
        self.recap = {match["host"]: {key: int(match[key]) for key in ("ok", "changed", "unreachable", "failed", "skipped")}
                      for match in RECAP.finditer(self.output)}
        if completed.returncode != 0:
            raise RuntimeError("%s failed (exit %d); its output is in %s:\n%s" % (
                label, completed.returncode, log, "\n".join(self.output.splitlines()[-30:])))


class Bench:
    def __init__(self, rounds, host_rounds):
        self.rounds = rounds
        self.host_rounds = host_rounds
        self.count = 0
        self.steps = []
        self.environment = dict(
            os.environ,
            MOLECULE_EPHEMERAL_DIRECTORY=str(EPHEMERAL),
        )
        # What Molecule gives ansible-playbook (its provisioner's environment).
        self.playbook_environment = dict(
            self.environment,
            ANSIBLE_CONFIG=str(EPHEMERAL / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(REPOSITORY / "build" / "collections"),
            ANSIBLE_ROLES_PATH=str(REPOSITORY / "roles"),
            MOLECULE_PROJECT_DIRECTORY=str(REPOSITORY),
            MOLECULE_SCENARIO_NAME=SCENARIO,
        )

    def log(self, name):
        self.count += 1
        return WORK / "logs" / ("%02d-%s.log" % (self.count, name))

    def molecule(self, step):
        run = Run("molecule %s" % step, ["molecule", step, "--scenario-name", SCENARIO], self.environment,
                  self.log("molecule-" + step))
        say("molecule %s: %.0f s" % (step, run.seconds))
        self.steps.append((step, run.seconds))
        return run

    def playbook(self, label, playbook, hosts, tally=False):
        """Run ``playbook`` on ``hosts`` as Molecule would; with ``tally``, record each task (run.tally)."""
        command = ["ansible-playbook", "--inventory", str(EPHEMERAL / "inventory"), "--limit", ",".join(hosts),
                   "--forks", str(max(HOST_COUNTS)), str(playbook)]
        log = self.log(label.replace(" ", "-"))
        environment = dict(self.playbook_environment)
        tally_file = log.with_suffix(".tally.json")
        if tally:
            environment.update(ANSIBLE_CALLBACK_PLUGINS=str(TALLY_CALLBACKS), ANSIBLE_CALLBACKS_ENABLED="task_tally",
                               BENCH_TASK_TALLY=str(tally_file))
        run = Run(label, command, environment, log)
        run.tally = json.loads(tally_file.read_text(encoding="utf-8")) if tally else None
        missing = set(hosts) - set(run.recap)
        if missing:
            raise RuntimeError("%s: no recap for %s" % (label, ", ".join(sorted(missing))))
        say("%s: %.1f s, %s" % (label, run.seconds, " ".join(
            "%s ok=%d changed=%d skipped=%d" % (host[-6:], counts["ok"], counts["changed"], counts["skipped"])
            for host, counts in sorted(run.recap.items()))))
        return run


def say(message):
    print("[%s] %s" % (datetime.datetime.now().strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


# What a task of site.yml is, for the breakdown of where the time goes.
FACT_ACTIONS = frozenset(("gather_facts", "setup", "package_facts", "service_facts"))
KINDS = ("fact gathering", "other module on the host", "on the controller only", "skipped")
ON_THE_HOST = KINDS[:2]


def kind_of(entry):
    if entry["status"] == "skipped":
        return "skipped"
    if entry["where"] == "controller":
        return "on the controller only"
    return "fact gathering" if entry["action"] in FACT_ACTIONS else "other module on the host"


def floor_kind(entry):
    """The kind of site.yml's task that a task of the floor stands for (its name starts with it)."""
    return entry["task"].split(":", 1)[0]


def floor_playbook(tally, host):
    """The playbook of as many tasks as site.yml's re-run had on ``host``, each doing nothing.

    Each task's name starts with the kind of the task of site.yml it stands
    for, so that the floor's own tally can be broken down the same way.
    """
    tasks = []
    for number, entry in enumerate((entry for entry in tally if entry["host"] == host), start=1):
        kind = kind_of(entry)
        name = "%s: task %d, as %s" % (kind, number, entry["action"])
        if kind == "skipped":
            tasks.append({"name": name, "ansible.builtin.ping": {}, "when": False})
        elif kind == "on the controller only":
            # An include over a loop counts once per file it includes.
            files = entry["items"] or 1 if entry["action"] == "include_tasks" else 1
            for item in range(files):
                tasks.append({"name": name + (" %d of %d" % (item + 1, files) if files > 1 else ""),
                              "ansible.builtin.set_fact": {"bench_floor": True}})
        else:
            tasks.append({"name": name, "ansible.builtin.ping": {}})
    return [{"name": "The same number of tasks as site.yml's re-run, doing nothing", "hosts": host,
             "gather_facts": False, "tasks": tasks}]


def seconds_by_kind(run, floor):
    """Seconds the run's tasks took, by kind of task (of site.yml; a floor's task names say it)."""
    totals = {kind: 0.0 for kind in KINDS}
    counts = {kind: 0 for kind in KINDS}
    for entry in run.tally:
        kind = floor_kind(entry) if floor else kind_of(entry)
        totals[kind] += entry["seconds"]
        counts[kind] += 1
    return totals, counts


def seconds_by_action(run):
    """The run's tasks that ran a module on the host, by action: {action: [tasks, module runs, seconds]}."""
    totals = {}
    for entry in run.tally:
        if kind_of(entry) in ON_THE_HOST:
            tasks = totals.setdefault(entry["action"], [0, 0, 0.0])
            tasks[0] += 1
            tasks[1] += entry["items"] or 1
            tasks[2] += entry["seconds"]
    return totals


def ping_seconds(floor_run):
    """Mean seconds of the floor's pings that stand for tasks on the host."""
    pings = [entry["seconds"] for entry in floor_run.tally if floor_kind(entry) in ON_THE_HOST]
    return sum(pings) / len(pings)


def actions_over_ping(site_runs, floor_runs):
    """Per action of site.yml's tasks on the host, median over the rounds: (action, tasks, module runs,
    seconds per task, that over a ping, seconds beyond the floor's pings for them), most beyond first."""
    ping = statistics.median(ping_seconds(run) for run in floor_runs)
    by_round = [seconds_by_action(run) for run in site_runs]
    rows = []
    for action in sorted(set().union(*by_round)):
        tasks, runs = next(totals[action][:2] for totals in by_round if action in totals)
        seconds = statistics.median(totals[action][2] if action in totals else 0.0 for totals in by_round)
        rows.append((action, tasks, runs, seconds / tasks, seconds / tasks / ping, seconds - tasks * ping))
    return sorted(rows, key=lambda row: row[5], reverse=True), ping


def spread(values, unit="s", digits=1):
    return "%.*f / %.*f / %.*f %s" % (digits, min(values), digits, statistics.median(values), digits, max(values),
                                      unit)


def machine():
    model = next((line.split(":", 1)[1].strip() for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    memory = next(int(line.split()[1]) // 1024 for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return "%d cores (%s), %d MiB, %s" % (os.cpu_count(), model, memory, platform.platform())


def measure(bench, reuse):
    if not reuse:
        # Molecule's create runs the scenario's prepare too.
        for step in ("destroy", "create", "converge"):
            bench.molecule(step)

    site_yml = REPOSITORY / "site.yml"
    # The first re-run after the converge warms caches up; it is counted, not timed.
    counting = bench.playbook("site.yml counted", site_yml, HOSTS[:1], tally=True)
    floor_file = WORK / "floor.yml"
    floor_file.write_text("---\n" + yaml.safe_dump(floor_playbook(counting.tally, HOSTS[0]), sort_keys=False),
                          encoding="utf-8")

    site = {count: [] for count in HOST_COUNTS}
    floor = []
    for number in range(bench.rounds):
        # The pair in swapped order every other round: neither always runs first.
        pair = ["site", "floor"] if number % 2 == 0 else ["floor", "site"]
        for kind in pair:
            if kind == "floor":
                floor.append(bench.playbook("floor round %d" % (number + 1), floor_file, HOSTS[:1], tally=True))
            else:
                site[1].append(bench.playbook("site.yml on 1 round %d" % (number + 1), site_yml, HOSTS[:1],
                                              tally=True))
        if number < bench.host_rounds:
            for count in HOST_COUNTS[1:]:
                site[count].append(bench.playbook("site.yml on %d round %d" % (count, number + 1), site_yml,
                                                  HOSTS[:count]))
    return counting, site, floor


def report(steps, counting, site, floor, loads, total):
    failures = []
    print("Date %s; machine: %s; Python %s" % (datetime.date.today().isoformat(), machine(), platform.python_version()))
    print("Load average (1 min) while it ran: %s (%d samples); the whole benchmark took %.0f s\n" % (
        spread(loads, unit="", digits=2), len(loads), total))

    print("| Molecule step (5 hosts) | seconds |\n|---|---|")
    for step, seconds in steps:
        print("| %s | %.0f |" % ("create (and prepare)" if step == "create" else step, seconds))

    host = HOSTS[0]
    dummy, counts = seconds_by_kind(counting, floor=False)
    module_runs = sum(entry["items"] or 1 for entry in counting.tally
                      if kind_of(entry) in ON_THE_HOST)
    print("\nsite.yml's re-run on one host: recap ok=%d skipped=%d; %s; %d module runs on the host with loop items" % (
        counting.recap[host]["ok"], counting.recap[host]["skipped"],
        ", ".join("%d %s" % (counts[kind], kind) for kind in KINDS), module_runs))
    expected_recap = (counting.recap[host]["ok"], counting.recap[host]["skipped"])
    for run in floor:
        if (run.recap[host]["ok"], run.recap[host]["skipped"]) != expected_recap:
            failures.append("%s: recap ok=%d skipped=%d, not site.yml's" % (
                run.label, run.recap[host]["ok"], run.recap[host]["skipped"]))

    ratios = [rerun.seconds / nothing.seconds for rerun, nothing in zip(site[1], floor)]
    print("\n| play, one host | wall time (min / median / max) | controller CPU (median) | busy cores (median) |")
    print("|---|---|---|---|")
    for label, runs in (("site.yml re-run", site[1]), ("same tasks doing nothing", floor)):
        print("| %s | %s | %.1f s | %.2f |" % (label, spread([run.seconds for run in runs]),
                                               statistics.median(run.controller_cpu for run in runs),
                                               statistics.median(run.busy_cores for run in runs)))
    print("\nre-run / floor, round by round: %s (min / median / max: %s)" % (
        ", ".join("%.2f" % ratio for ratio in ratios), spread(ratios, unit="x", digits=2)))
    if statistics.median(ratios) > MAX_RERUN_OVER_FLOOR:
        failures.append("a re-run of site.yml costs %.2f x the same tasks doing nothing (target <= %s)" % (
            statistics.median(ratios), MAX_RERUN_OVER_FLOOR))

    print("\nWhere the time goes, one host (median of the rounds; seconds from each task's start to its result):\n")
    print("| kind of task | tasks | site.yml re-run | same tasks doing nothing |\n|---|---|---|---|")
    by_kind = {label: [seconds_by_kind(run, floor=label == "floor")[0] for run in runs]
               for label, runs in (("site", site[1]), ("floor", floor))}
    for kind in KINDS:
        print("| %s | %d | %.1f s | %.1f s |" % (kind, counts[kind],
                                                 statistics.median(totals[kind] for totals in by_kind["site"]),
                                                 statistics.median(totals[kind] for totals in by_kind["floor"])))
    print("| outside tasks (start-up, inventory, plays) | - | %.1f s | %.1f s |" % tuple(
        statistics.median(run.seconds - sum(entry["seconds"] for entry in run.tally) for run in runs)
        for runs in (site[1], floor)))

    rows, ping = actions_over_ping(site[1], floor)
    print("\nTasks on the host by action (median of the rounds; a ping of the floor took %.2f s):\n" % ping)
    print("| action | tasks | module runs | seconds per task | over a ping | seconds beyond the pings |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| %s | %d | %d | %.2f | %.1f x | %.1f |" % row)

    print("\n| hosts (forks 5) | runs | wall time (min / median / max) | over one host (median) | per host (median) "
          "| controller CPU (median) | busy cores (median) |")
    print("|---|---|---|---|---|---|---|")
    one = statistics.median(run.seconds for run in site[1])
    for count, runs in site.items():
        median = statistics.median(run.seconds for run in runs)
        print("| %d | %d | %s | %.2f x | %.1f s | %.1f s | %.2f |" % (
            count, len(runs), spread([run.seconds for run in runs]), median / one, median / count,
            statistics.median(run.controller_cpu for run in runs), statistics.median(run.busy_cores for run in runs)))

    print("\nSlowest tasks of site.yml's re-run on one host (median of the rounds):\n")
    print("| task | action | seconds |\n|---|---|---|")
    durations = {}
    for run in site[1]:
        for number, entry in enumerate(run.tally):
            durations.setdefault((number, entry["task"], entry["action"], entry["items"]), []).append(entry["seconds"])
    slowest = sorted(durations.items(), key=lambda item: statistics.median(item[1]), reverse=True)[:10]
    for (dummy, task, action, items), seconds in slowest:
        print("| %s | %s%s | %.2f |" % (task, action, " (%d items)" % items if items else "", statistics.median(seconds)))

    for runs in list(site.values()) + [[counting]]:
        for run in runs:
            changed = {host: counts["changed"] for host, counts in run.recap.items() if counts["changed"]}
            if changed:
                failures.append("%s changed something on converged hosts: %s" % (run.label, changed))
    for failure in failures:
        print("MISSED: " + failure)
    print("target met" if not failures else "%d target(s) missed" % len(failures))
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of site.yml and the floor on one host")
    parser.add_argument("--host-rounds", type=int, default=2, help="rounds of site.yml on 3 and on 5 hosts")
    parser.add_argument("--keep", action="store_true", help="leave the hosts (and the lab) up at the end")
    parser.add_argument("--reuse", action="store_true", help="measure the hosts a --keep run left, converged")
    arguments = parser.parse_args()

    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    bench = Bench(arguments.rounds, arguments.host_rounds)
    sampler = LoadSampler()
    sampler.start()
    started = time.monotonic()
    try:
        counting, site, floor = measure(bench, arguments.reuse)
    finally:
        if not arguments.keep:
            bench.molecule("destroy")
        sampler.stopped.set()
    return report(bench.steps, counting, site, floor, sampler.samples, time.monotonic() - started)


if __name__ == "__main__":
    sys.exit(main())
