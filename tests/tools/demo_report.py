# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`make demo`'s report (tests/tools/demo): the proof's traffic on the default scenario's host, then
each of the seven places, configured or not, proven by which traffic, as which proxy user.

  python3 tests/tools/demo_report.py mark FILE    remember where corp-proxy's log ends (before site.yml registers the runners)
  python3 tests/tools/demo_report.py prove FILE   run one pipeline of jobs, print the hops and the seven places; exit 1 unless all proven
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lab"))

import labtest  # noqa: E402  (after the path is set)
import proof  # noqa: E402
import proxylog  # noqa: E402

HOST = "behindproxy-default-host"


def main(argv):
    if len(argv) != 3 or argv[1] not in ("mark", "prove"):
        print(__doc__, file=sys.stderr)
        return 2
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
