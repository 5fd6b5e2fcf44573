# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`'s reading of the doctor's table from a doctor run with the json stdout callback."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import load_lab_module

demo_report = load_lab_module("lab_demo_report", Path(__file__).resolve().parents[3] / "tests" / "tools" / "demo_report.py")

TABLE = ["hop | tried | result", "cntlm | listening on 127.0.0.1:3128 | ok"]


def doctor_output(table_task="Show the doctor's table", msg=None):
    msg = TABLE if msg is None else msg
    report = {"plays": [{"play": {"name": "doctor"}, "tasks": [
        {"task": {"name": "Read cntlm.conf"}, "hosts": {"h": {"changed": False}}},
        {"task": {"name": table_task}, "hosts": {"h": {"msg": msg}}},
        {"task": {"name": "Fail when a hop failed"}, "hosts": {"h": {"skipped": True}}}]}]}
    return "INFO     [default > side_effect] Executing\n" + json.dumps(report, indent=4) + "\nINFO     done\n"


def test_the_table_is_read_from_the_json_around_molecule_s_lines():
    assert demo_report.doctor_table(doctor_output()) == TABLE


def test_output_without_the_table_gives_no_lines():
    assert demo_report.doctor_table(doctor_output(table_task="Something else")) == []
    assert demo_report.doctor_table("PLAY RECAP: not json at all") == []
    assert demo_report.doctor_table(doctor_output(msg="one string, not the lines")) == []


def test_the_doctor_subcommand_exits_1_without_a_table(tmp_path, capsys):
    output = tmp_path / "doctor.out"
    output.write_text("ERROR! the playbook could not be read\n", encoding="utf-8")
    assert demo_report.main(["demo_report.py", "doctor", str(output)]) == 1
    output.write_text(doctor_output(), encoding="utf-8")
    assert demo_report.main(["demo_report.py", "doctor", str(output)]) == 0
    assert "  cntlm | listening on 127.0.0.1:3128 | ok" in capsys.readouterr().out
