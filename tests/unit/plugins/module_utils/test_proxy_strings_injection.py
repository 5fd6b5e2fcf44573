# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""docker_proxy_script with hostile values in every parameter.

Each value that reaches the job's shell is either quoted or refused. The
command goes through config.toml (tomlkit, then tomllib) and runs under
bash, dash and busybox sh in a temporary home; no payload may leave a side
effect file, and the written JSON holds the values literally. A refusal
must be a ValueError that names the parameter and the bad value.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest
import tomlkit

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_strings import (
    DOCKER_CLIENT_PROXY_KEYS,
    docker_proxy_script,
)

SHELLS = {"bash": ["bash", "-c"], "dash": ["dash", "-c"], "busybox": ["busybox", "sh", "-c"]}

missing_shells = [name for name, argv in SHELLS.items() if shutil.which(argv[0]) is None]
if missing_shells:
    pytest.fail("these tests need %s (Debian packages bash, dash, busybox: tests/lab/bin/host-packages)"
                % ", ".join(missing_shells), pytrace=False)

# {side} is replaced by the absolute path of a file that must never appear.
PAYLOADS = [
    "$(touch {side})",
    "`touch {side}`",
    "$(touch {side})/config.json",
    "; touch {side}",
    "&& touch {side} #",
    "| touch {side}",
    "'; touch {side}; '",
    "'$(touch {side})'",
    '"; touch {side}; "',
    '"$(touch {side})"',
    "\ntouch {side}\n",
    "\rtouch {side}",
    "$((1+1))$(touch {side})",
    "${HOME:-$(touch {side})}",
    "${HOME+`touch {side}`}",
    "\\$(touch {side})",
    "\\`touch {side}`",
    "$HOSTILE",
    "${HOSTILE}",
    "$HOME/x",
    "%s%n%d%%\\n\\000",
    "* ? [a-z]* ~ {a,b}",
    "a\tb\x01c\x1bd\x7f",
    "\u00e9\u4e2d\U0001f600",
    "!!",
    "$$ $? $! $# $@ $* $0 $1",
    "\\",
    "'",
    '"',
    "",
]

# Set in the job's environment: its value runs the payload if anything evaluates it twice.
JOB_ENVIRONMENT = {"HOSTILE": "$(touch {side})"}


def payloads(side: pathlib.Path) -> list[str]:
    return [payload.replace("{side}", str(side)) for payload in PAYLOADS]


def stored_in_config_toml(command: str) -> str:
    runner = tomlkit.table()
    runner.add("name", "docker-runner")
    runner.add("pre_build_script", command)
    runners = tomlkit.aot()
    runners.append(runner)
    document = tomlkit.document()
    document.add("runners", runners)
    return tomllib.loads(tomlkit.dumps(document))["runners"][0]["pre_build_script"]


def run_in_job(shell: str, command: str, home: pathlib.Path, side: pathlib.Path,
               variables: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": "C"}
    environment.update((name, value.replace("{side}", str(side))) for name, value in JOB_ENVIRONMENT.items())
    environment.update(variables or {})
    return subprocess.run(SHELLS[shell] + [stored_in_config_toml(command)], env=environment, cwd=home,
                          capture_output=True, timeout=60, check=False)


@pytest.fixture
def job(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home, tmp_path / "SIDE-EFFECT"


def assert_no_side_effect(side: pathlib.Path, result: subprocess.CompletedProcess):
    assert not side.exists(), "the payload ran: %r" % (result.stderr,)


@pytest.mark.parametrize("shell", SHELLS)
def test_literal_values_are_written_literally(shell, job):
    home, side = job
    for value in payloads(side):
        proxies = dict.fromkeys(DOCKER_CLIENT_PROXY_KEYS, value)
        result = run_in_job(shell, docker_proxy_script(proxies), home, side)
        assert_no_side_effect(side, result)
        assert result.returncode == 0, result.stderr
        written = json.loads((home / ".docker" / "config.json").read_text(encoding="utf-8"))
        assert written == {"proxies": {"default": proxies}}


@pytest.mark.parametrize("shell", SHELLS)
def test_job_environment_values_are_written_literally(shell, job):
    home, side = job
    command = docker_proxy_script({key: "V_%s" % key for key in DOCKER_CLIENT_PROXY_KEYS}, from_env=True)
    for value in payloads(side):
        result = run_in_job(shell, command, home, side, {"V_%s" % key: value for key in DOCKER_CLIENT_PROXY_KEYS})
        assert_no_side_effect(side, result)
        assert result.returncode == 0, result.stderr
        written = json.loads((home / ".docker" / "config.json").read_text(encoding="utf-8"))
        assert written == {"proxies": {"default": dict.fromkeys(DOCKER_CLIENT_PROXY_KEYS, value)}}


def test_hostile_variable_names_are_refused(tmp_path):
    for value in payloads(tmp_path / "SIDE-EFFECT"):
        with pytest.raises(ValueError) as error:
            docker_proxy_script({"noProxy": value}, from_env=True)
        assert "proxies.noProxy" in str(error.value) and repr(value) in str(error.value)


def _expanded(path: str, home: pathlib.Path, side: pathlib.Path) -> pathlib.Path:
    """Where the shell must write: $HOME and $HOSTILE expanded once, nothing else."""
    values = {"HOME": str(home), "HOSTILE": JOB_ENVIRONMENT["HOSTILE"].replace("{side}", str(side))}
    return pathlib.Path(re.sub(r"\$(?:(HOME|HOSTILE)\b|\{(HOME|HOSTILE)\})",
                               lambda match: values[match.group(1) or match.group(2)], path))


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("from_env", [False, True])
def test_hostile_paths_are_quoted_or_refused(shell, from_env, job):
    home, side = job
    proxies = {"httpProxy": "HTTP_PROXY"} if from_env else {"httpProxy": "http://proxy:3128"}
    accepted = 0
    for value in payloads(side):
        path = "$HOME/" + value + "/config.json"
        try:
            command = docker_proxy_script(proxies, from_env=from_env, path=path)
        except ValueError as error:
            assert str(error).startswith("path %r " % path)
            continue
        accepted += 1
        result = run_in_job(shell, command, home, side, {"HTTP_PROXY": "http://proxy:3128"})
        assert_no_side_effect(side, result)
        assert result.returncode == 0, (path, result.stderr)
        written = _expanded(path, home, side)
        assert json.loads(written.read_text()) == {"proxies": {"default": {"httpProxy": "http://proxy:3128"}}}
        written.unlink()
    assert accepted >= 10


@pytest.mark.parametrize("path", ["$(touch /tmp/x)/config.json", "${HOME:-x}/config.json", "$1/config.json",
                                  "$$/config.json", "$/config.json", "config.json$", "${HOME/config.json",
                                  "$((1))/config.json", "-rf/config.json", "a\tb/config.json"])
def test_path_with_anything_but_plain_variables_is_refused_naming_it(path):
    with pytest.raises(ValueError) as error:
        docker_proxy_script({"httpProxy": "x"}, path=path)
    assert str(error.value).startswith("path %r " % path)


@pytest.mark.parametrize("path", ["$HOME/.docker/config.json", "${CI_PROJECT_DIR}/.docker/config.json",
                                  "/builds/a b/*/config.json", "relative/config.json", "$A$B/c;d'e"])
def test_plain_variables_and_ordinary_characters_are_accepted(path):
    assert docker_proxy_script({"httpProxy": "x"}, path=path)


@pytest.mark.parametrize("from_env", ["yes", "false", 1, None])
def test_from_env_must_be_a_boolean(from_env):
    with pytest.raises(ValueError, match=r"from_env must be true or false, got %s" % re.escape(repr(from_env))):
        docker_proxy_script({"httpProxy": "x"}, from_env=from_env)


def test_the_filter_reports_the_refused_path_and_value():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.behindproxy.gitlab_runner.plugins.filter import proxy

    with pytest.raises(AnsibleFilterError) as error:
        proxy.docker_proxy_script({}, from_env=True, path="$(touch /tmp/x)/config.json")
    assert str(error.value).startswith("docker_proxy_script: path '$(touch /tmp/x)/config.json' has a $ that does not "
                                       "start a plain $NAME or ${NAME}")
