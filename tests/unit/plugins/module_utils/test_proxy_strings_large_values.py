# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""docker_proxy_script(from_env=true) with large values, in bash, dash and busybox sh.

The job escapes NO_PROXY at run time: a corporate list of hundreds of host
names must take well under a second, and 32 KB full of characters that JSON
escapes must still give exactly the input back. The time limit is loose
(5 s, against a few hundredths of a second measured) so that a loaded test
machine does not make the test flaky; an escape that goes character by
character in sh takes minutes here.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_strings import docker_proxy_script

SHELLS = {"bash": ["bash", "-c"], "dash": ["dash", "-c"], "busybox": ["busybox", "sh", "-c"]}
TIME_LIMIT = 5.0

missing_shells = [name for name, argv in SHELLS.items() if shutil.which(argv[0]) is None]
if missing_shells:
    pytest.fail("these tests need %s (Debian packages bash, dash, busybox: tests/lab/bin/host-packages)"
                % ", ".join(missing_shells), pytrace=False)


def hostile_no_proxy(size: int) -> str:
    """``size`` characters: host names mixed with every character JSON must escape, and some UTF-8."""
    pieces = ['"', "\\", "\n", "\r", "\t", "\x01", "\x1f", "\x7f", "\\\\", '\\"', "\\n", "\u00e9", "\u4e2d",
              "%s", "$(x)", "'"] + [chr(code) for code in range(1, 32)]
    generator = random.Random(20260101)
    text = []
    length = 0
    while length < size:
        piece = generator.choice(pieces) if generator.random() < 0.5 else "host%d.example.com," % length
        text.append(piece)
        length += len(piece)
    return "".join(text)[:size]


def timed_run(shell: str, home, values: dict[str, str], locale: str = "C") -> tuple[float, object]:
    command = docker_proxy_script(None, from_env=True)
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": locale}
    environment.update(values)
    start = time.monotonic()
    try:
        subprocess.run(SHELLS[shell] + [command], env=environment, cwd=home, check=True,
                       capture_output=True, timeout=TIME_LIMIT * 4)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not finish within %s s" % (shell, TIME_LIMIT * 4))
    elapsed = time.monotonic() - start
    return elapsed, json.loads((home / ".docker" / "config.json").read_bytes().decode("utf-8"))


@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
@pytest.mark.parametrize("shell", SHELLS)
def test_32_kilobytes_needing_escapes_round_trip_quickly(shell, locale, tmp_path):
    no_proxy = hostile_no_proxy(32 * 1024)
    https_proxy = "http://user:p\"a\\ss@proxy:3128\n"
    elapsed, written = timed_run(shell, tmp_path, {"NO_PROXY": no_proxy, "HTTPS_PROXY": https_proxy}, locale)
    assert written == {"proxies": {"default": {"httpProxy": "", "httpsProxy": https_proxy, "noProxy": no_proxy}}}
    assert elapsed < TIME_LIMIT, "%s took %.2f s for 32 KB" % (shell, elapsed)


@pytest.mark.parametrize("shell", SHELLS)
def test_four_hundred_host_names_take_well_under_a_second(shell, tmp_path):
    no_proxy = ",".join("host%03d.build.example.com" % index for index in range(400))
    elapsed, written = timed_run(shell, tmp_path, {"NO_PROXY": no_proxy})
    assert written["proxies"]["default"]["noProxy"] == no_proxy
    assert elapsed < TIME_LIMIT / 5, "%s took %.2f s for 400 host names" % (shell, elapsed)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", ["", "\n", "\n\n", "a\n", "\na", ".", "..", "a.", "\\", '"', "\x01", "x" * 5000])
def test_edges_of_the_escaping(shell, value, tmp_path):
    dummy, written = timed_run(shell, tmp_path, {"NO_PROXY": value})
    assert written["proxies"]["default"]["noProxy"] == value
