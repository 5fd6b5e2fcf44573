# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/tools/chains, the runner of `make test`'s steps in chains side by side, with stand-ins
for make, molecule and the lab's command that record what ran when."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

CHAINS = Path(__file__).resolve().parents[2] / "tools" / "chains"

STAND_IN = """#!/usr/bin/env bash
# Records "<start> <end> <name>" in $RECORD; fails when the name is in $FAIL. Scenarios take
# longer than layers, as they do.
name=$(basename "$0"):${@: -1}
[ "$(basename "$0")" = make ] && name=make:$2
[ "$(basename "$0")" = lab ] && name=lab:$1
start=$(date +%s.%N)
case "$name" in molecule:*) sleep 0.8;; *) sleep 0.2;; esac
echo "output of $name"
echo "$start $(date +%s.%N) $name" >>"$RECORD"
case " $FAIL " in *" $name "*) echo "$name went wrong"; exit 3;; esac
exit 0
"""


@pytest.fixture()
def tree(tmp_path):
    """A checkout-like tree: tests/tools/chains, tests/lab/bin/lab, and make and molecule on PATH."""
    (tmp_path / "tests" / "tools").mkdir(parents=True)
    (tmp_path / "tests" / "lab" / "bin").mkdir(parents=True)
    (tmp_path / "bin").mkdir()
    shutil.copy(CHAINS, tmp_path / "tests" / "tools" / "chains")
    for path in (tmp_path / "tests" / "lab" / "bin" / "lab", tmp_path / "bin" / "make", tmp_path / "bin" / "molecule"):
        path.write_text(STAND_IN)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return tmp_path


def run(tree, *chains, fail=""):
    record = tree / "record"
    environment = dict(os.environ, PATH=f"{tree / 'bin'}:{os.environ['PATH']}", RECORD=str(record), FAIL=fail)
    completed = subprocess.run([str(tree / "tests" / "tools" / "chains"), *chains], capture_output=True, text=True,
                               env=environment, timeout=60, check=False)
    rows = [line.split(" ", 2) for line in record.read_text().splitlines()] if record.exists() else []
    return completed, {name: (float(start), float(end)) for start, end, name in rows}, [row[2] for row in rows]


def test_chains_run_side_by_side_each_in_its_order_between_lab_up_and_down(tree):
    completed, times, order = run(tree, "lint unit first", "second third")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert order[0] == "lab:up" and order[-1] == "lab:down"
    steps = ["make:lint", "make:unit", "molecule:first", "molecule:second", "molecule:third"]
    assert sorted(order[1:-1]) == sorted(steps)
    # In order within a chain, overlapping across the chains.
    assert times["make:lint"][1] <= times["make:unit"][0] and times["make:unit"][1] <= times["molecule:first"][0]
    assert times["molecule:second"][1] <= times["molecule:third"][0]
    assert times["molecule:second"][0] < times["make:lint"][1]
    for step in ("lint", "unit", "first", "second", "third"):
        assert f"chains: {step} passed in" in completed.stdout
        assert "output of" in (tree / "build" / "test-logs" / f"{step}.log").read_text()


def test_after_a_failure_no_step_starts_and_the_failed_log_ends_the_output(tree):
    completed, _times, order = run(tree, "lint unit first", "second third", fail="make:lint")
    assert completed.returncode == 1
    assert "chains: lint FAILED" in completed.stdout
    assert completed.stdout.rstrip().endswith("make:lint went wrong")
    assert "make:unit" not in order and "molecule:first" not in order
    # The other chain's running step ends; its next one does not start.
    assert "molecule:second" in order and "molecule:third" not in order
    assert order[-1] == "lab:down"


def test_a_lab_that_does_not_come_up_runs_no_step(tree):
    completed, _times, order = run(tree, "lint", "first", fail="lab:up")
    assert completed.returncode == 1
    assert "chains: lab up FAILED" in completed.stdout and "lab:up went wrong" in completed.stdout
    assert order == ["lab:up", "lab:down"]
