# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`'s report (tests/tools/demo): the proof's traffic on the default scenario's host, then
each of the seven places, configured or not, proven by which traffic, as which proxy user.

  python3 tests/tools/demo_report.py mark FILE    remember where corp-proxy's log ends (before site.yml registers the runners)
  python3 tests/tools/demo_report.py prove FILE   run one pipeline of jobs, print the hops and the seven places; exit 1 unless all proven
  python3 tests/tools/demo_report.py doctor FILE  print the doctor's table from FILE, the doctor's run with the json callback
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

import labtest  # noqa: E402  (after the path is set)
import proof  # noqa: E402
import proxylog  # noqa: E402

HOST = "behindproxy-default-host"


DOCTOR_TABLE_TASK = "Show the doctor's table"


def doctor_table(output):
    """The lines of the doctor's table in the output of a doctor run with the json stdout
    callback (whatever was printed around the JSON document); [] if it has none."""
    start = output.find("{")
    if start < 0:
        return []
    try:
        report, _end = json.JSONDecoder().raw_decode(output, start)
    except ValueError:
        return []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            if task.get("task", {}).get("name", "").endswith(DOCTOR_TABLE_TASK):
                for result in task.get("hosts", {}).values():
                    if isinstance(result.get("msg"), list):
                        return result["msg"]
    return []


def main(argv):
    if len(argv) != 3 or argv[1] not in ("mark", "prove", "doctor"):
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "doctor":
        lines = doctor_table(Path(argv[2]).read_text(encoding="utf-8", errors="replace"))
        print("\n".join("  " + line for line in lines) if lines else "  (no table in the doctor's output)")
        return 0 if lines else 1
    mark_file = Path(argv[2])
    if argv[1] == "mark":
        mark = proxylog.mark()
        mark_file.write_text(json.dumps({"offset": mark.offset, "time": mark.time}))
        return 0
    lab = labtest.lab_env()
    since = proxylog.LogMark(**json.loads(mark_file.read_text()))
    registration = proof.registration_hop(proxylog.entries_since(since), lab["gitlab"]["http_url"].split("/")[2],
                                          lab["ntlm"]["logged_as"])
    result, hops = proof.run_pipeline(HOST)
    hops.append(registration)
    print(f"  the pipeline's job on the real runner: {result.get('status')}")
    print(proof.report(hops))
    print()
    print("  The seven places of the runner host:")
    all_good, table = proof.places_report(HOST, hops)
    print(table)
    return 0 if all_good and result.get("status") == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
