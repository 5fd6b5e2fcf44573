# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How much runner_config's structural edit costs, as ratios measured in one run.

The edit keeps every byte it does not change, so it parses config.toml twice
(tomllib for the data, tomlkit for the layout), merges, dumps with tomlkit and
parses the result again to prove it holds the requested data; a run that
changes nothing is decided from tomllib's data alone. The floor is what
tomlkit alone needs to parse the same file: the ratios below say what the
edit costs on top of it, how that grows with the number of runners, and how
much memory it takes compared with that parse.

Run: make bench (with the pinned tomlkit, then with Debian 12's 0.11.7, the
one runner_config meets on managed hosts); it exits non-zero when a target
is missed.
Results go to docs/performance.md by hand, with the date and the machine.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time
import tracemalloc

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "build" / "collections"))

import tomlkit  # noqa: E402  (after the path to the collection)

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _toml_document as toml_document  # noqa: E402

# The targets this benchmark checks (docs/performance.md says why).
MAX_EDIT_OVER_PARSE = 2.0        # an edit costs at most this many tomlkit parses
MAX_NOOP_OVER_PARSE = 0.5        # a run that changes nothing needs no tomlkit at all
MAX_GROWTH_OVER_PARSE = 1.3      # the edit grows with the file no faster than tomlkit's parse does
MAX_MEMORY_OVER_PARSE = 2.0      # peak memory of an edit over that of a tomlkit parse


def runner_block(index: int) -> str:
    return f'''
# runner {index}: a Docker executor behind the local cntlm
[[runners]]
  name = "runner-{index}"
  url = "https://gitlab.example.test/"
  id = {1000 + index}
  token = "glrt-{index:020d}"
  token_obtained_at = 2026-01-01T00:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  environment = ["HTTP_PROXY=http://172.17.0.1:3128", "HTTPS_PROXY=http://172.17.0.1:3128", "NO_PROXY=localhost"]
  pre_build_script = """
mkdir -p $HOME/.docker
"""
  [runners.docker]
    image = "debian:12"
    privileged = false
    volumes = ["/cache", "/certs/client"]
    [[runners.docker.services]]
      name = "docker:dind"
      alias = "docker"
'''


def config_text(runners: int) -> str:
    return "concurrent = 4\ncheck_interval = 0\n\n[session_server]\n  session_timeout = 1800\n" + "".join(
        runner_block(index) for index in range(runners))


def last_runner_edit_arguments(runners: int) -> dict:
    """runner_config's arguments for the edit measured: the last runner's proxy and a docker setting."""
    proxy = "http://172.17.0.1:3129"
    return {
        "name": f"runner-{runners - 1}",
        "environment": {"HTTP_PROXY": proxy, "http_proxy": proxy},
        "settings": {"docker": {"volumes": ["/cache"]}},
    }


def edit_of_last_runner(runners: int) -> toml_document.RunnerEdit:
    return toml_document.RunnerEdit(**last_runner_edit_arguments(runners))


def timings(repeats: int, function) -> list:
    """`repeats` timings of `function`, in CPU time; the ratios use the fastest.

    CPU time, not wall time: on a shared machine a wall-clock timing also
    counts the time the benchmark waited for a core, which made the ratios of
    a few runs swing past their targets and back (docs/performance.md).
    """
    measured = []
    for dummy in range(repeats):
        started = time.process_time()
        function()
        measured.append(time.process_time() - started)
    return measured


def peak_memory(function) -> int:
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure(runners: int, repeats: int) -> dict:
    text = config_text(runners)
    edit = edit_of_last_runner(runners)
    edited = toml_document.edit_config_text(text, edit).text
    assert edited != text
    assert toml_document.edit_config_text(edited, edit).text == edited
    parse = timings(repeats, lambda: tomlkit.parse(text))
    changing = timings(repeats, lambda: toml_document.edit_config_text(text, edit))
    unchanged = timings(repeats, lambda: toml_document.edit_config_text(edited, edit))
    return {
        "runners": runners,
        "bytes": len(text.encode()),
        "parse": min(parse),
        "edit": min(changing),
        "noop": min(unchanged),
        "spread": {"tomlkit parse": parse, "edit": changing, "unchanged run": unchanged},
        "parse_memory": peak_memory(lambda: tomlkit.parse(text)),
        "edit_memory": peak_memory(lambda: toml_document.edit_config_text(text, edit)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()

    print(f"Python {sys.version.split()[0]}, tomlkit {tomlkit.__version__}, CPU time, fastest of {arguments.repeats} runs, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    small, large = measure(20, arguments.repeats), measure(200, arguments.repeats)
    print("| runners | bytes | tomlkit parse | edit | edit / parse | unchanged run | unchanged / parse "
          "| edit memory / parse memory |")
    print("|---|---|---|---|---|---|---|---|")
    for row in (small, large):
        print(f"| {row['runners']} | {row['bytes']} | {row['parse'] * 1000:.1f} ms | {row['edit'] * 1000:.1f} ms "
              f"| {row['edit'] / row['parse']:.2f} | {row['noop'] * 1000:.1f} ms | {row['noop'] / row['parse']:.2f} "
              f"| {row['edit_memory'] / row['parse_memory']:.2f} |")
    print("\nHow noisy the runs were (CPU time, min / median / max, ms):\n")
    print("| runners | " + " | ".join(small["spread"]) + " |")
    print("|---|" + "---|" * len(small["spread"]))
    for row in (small, large):
        print(f"| {row['runners']} | " + " | ".join(
            " / ".join(f"{value * 1000:.1f}" for value in (min(values), statistics.median(values), max(values)))
            for values in row["spread"].values()) + " |")
    size = large["runners"] / small["runners"]
    parse_growth = (large["parse"] / small["parse"]) / size
    growth = (large["edit"] / small["edit"]) / (large["parse"] / small["parse"])
    print(f"\nfrom {small['runners']} to {large['runners']} runners: tomlkit's parse grows {parse_growth:.2f} x "
          f"faster than the file, the edit {growth:.2f} x faster than tomlkit's parse")

    failures = []
    for row in (small, large):
        if row["edit"] / row["parse"] > MAX_EDIT_OVER_PARSE:
            failures.append(f"{row['runners']} runners: an edit costs {row['edit'] / row['parse']:.2f} parses "
                            f"(target <= {MAX_EDIT_OVER_PARSE})")
        if row["noop"] / row["parse"] > MAX_NOOP_OVER_PARSE:
            failures.append(f"{row['runners']} runners: an unchanged run costs {row['noop'] / row['parse']:.2f} "
                            f"parses (target <= {MAX_NOOP_OVER_PARSE})")
        if row["edit_memory"] / row["parse_memory"] > MAX_MEMORY_OVER_PARSE:
            failures.append(f"{row['runners']} runners: an edit takes {row['edit_memory'] / row['parse_memory']:.2f}"
                            f" x the memory of a parse (target <= {MAX_MEMORY_OVER_PARSE})")
    if growth > MAX_GROWTH_OVER_PARSE:
        failures.append(f"the edit grows {growth:.2f} x faster than tomlkit's parse (target <= {MAX_GROWTH_OVER_PARSE})")
    for failure in failures:
        print("MISSED: " + failure)
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
