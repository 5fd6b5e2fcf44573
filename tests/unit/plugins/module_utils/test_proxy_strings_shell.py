# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""docker_proxy_script's contract, end to end.

The command goes where it will live (a ``[[runners]]`` entry written by
tomlkit, or a ``.gitlab-ci.yml`` ``before_script`` item), is read back by
another parser, run by the POSIX shells a job image may have (dash and
busybox sh, nothing else), and the file it writes must ``json.loads`` to
exactly the intended object.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile
import tomllib

import pytest
import tomlkit
import yaml
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_strings import (
    DOCKER_CLIENT_PROXY_KEYS,
    docker_proxy_script,
    shell_single_quote,
)

SHELLS = {"dash": ["dash", "-c"], "busybox": ["busybox", "sh", "-c"]}
LOCALES = ["C", "C.UTF-8"]

missing_shells = [name for name, argv in SHELLS.items() if shutil.which(argv[0]) is None]
if missing_shells:
    pytest.fail("these tests need %s (Debian packages dash, busybox: tests/lab/bin/host-packages)"
                % ", ".join(missing_shells), pytrace=False)

# Any text: quotes, backslashes, $, backticks, spaces, line breaks, control
# characters, non-ASCII. Literal values may even hold NUL (JSON escapes it);
# the process environment cannot.
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
environment_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                           max_size=30)
# Variable names include the helper's own variable names, to show that
# reading one of them is not spoiled by the helper.
variable_names = st.sampled_from(["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "CORP_PROXY",
                                  "json", "rest", "tail", "char", "code", "_1"])
client_proxies = st.dictionaries(st.sampled_from(DOCKER_CLIENT_PROXY_KEYS), any_text, min_size=1)
variable_mappings = st.dictionaries(st.sampled_from(DOCKER_CLIENT_PROXY_KEYS), variable_names, min_size=1)


def stored_in_config_toml(command: str) -> str:
    """Write the command as a runner's pre_build_script with tomlkit and read it back with tomllib."""
    runner = tomlkit.table()
    runner.add("name", "docker-runner")
    runner.add("pre_build_script", command)
    runners = tomlkit.aot()
    runners.append(runner)
    document = tomlkit.document()
    document.add("concurrent", 4)
    document.add("runners", runners)
    return tomllib.loads(tomlkit.dumps(document))["runners"][0]["pre_build_script"]


def stored_in_gitlab_ci(command: str) -> str:
    """Write the command as a before_script item of .gitlab-ci.yml and load it back."""
    text = yaml.safe_dump({"build": {"before_script": [command], "script": ["docker build ."]}},
                          allow_unicode=True)
    return yaml.safe_load(text)["build"]["before_script"][0]


def run_script(shell: str, command: str, home: pathlib.Path, variables: dict[str, str] | None = None,
               locale: str = "C") -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": locale}
    environment.update(variables or {})
    return subprocess.run(SHELLS[shell] + [command], env=environment, cwd=home, capture_output=True,
                          check=True, timeout=60)


def written_document(command: str, shell: str, variables: dict[str, str] | None = None,
                     locale: str = "C") -> object:
    with tempfile.TemporaryDirectory(prefix="behindproxy-home ") as directory:
        home = pathlib.Path(directory) / "home with spaces \u00e9"
        home.mkdir()
        run_script(shell, command, home, variables, locale)
        config = home / ".docker" / "config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        return json.loads(config.read_bytes().decode("utf-8"))


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150, deadline=None)
@given(proxies=client_proxies, locale=st.sampled_from(LOCALES))
def test_literal_values_survive_toml_and_shell(shell, proxies, locale):
    command = stored_in_config_toml(docker_proxy_script(proxies))
    assert written_document(command, shell, locale=locale) == {"proxies": {"default": proxies}}


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150, deadline=None)
@given(mapping=variable_mappings, values=st.dictionaries(variable_names, environment_text),
       locale=st.sampled_from(LOCALES))
def test_environment_values_are_json_escaped_at_run_time(shell, mapping, values, locale):
    command = stored_in_config_toml(docker_proxy_script(mapping, from_env=True))
    expected = {key: values.get(name, "") for key, name in mapping.items()}
    assert written_document(command, shell, values, locale) == {"proxies": {"default": expected}}


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=50, deadline=None)
@given(proxies=client_proxies, values=st.dictionaries(st.sampled_from(["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]),
                                                      environment_text))
def test_works_as_a_gitlab_ci_before_script_item(shell, proxies, values):
    literal = docker_proxy_script(proxies)
    assert stored_in_gitlab_ci(literal) == literal
    assert written_document(stored_in_gitlab_ci(literal), shell) == {"proxies": {"default": proxies}}
    from_env = docker_proxy_script(None, from_env=True)
    assert stored_in_gitlab_ci(from_env) == from_env
    assert written_document(from_env, shell, values) == {"proxies": {"default": {
        "httpProxy": values.get("HTTP_PROXY", ""), "httpsProxy": values.get("HTTPS_PROXY", ""),
        "noProxy": values.get("NO_PROXY", "")}}}


@pytest.mark.parametrize("shell", SHELLS)
def test_unset_variables_give_empty_strings(shell):
    command = docker_proxy_script({}, from_env=True)
    assert written_document(command, shell, {"HTTPS_PROXY": "http://proxy:3128"}) == {"proxies": {"default": {
        "httpProxy": "", "httpsProxy": "http://proxy:3128", "noProxy": ""}}}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("from_env", [False, True])
def test_job_shell_keeps_its_variables_umask_and_strict_options(shell, from_env, tmp_path):
    proxies = {"httpProxy": "HTTP_PROXY"} if from_env else {"httpProxy": "http://proxy:3128"}
    command = docker_proxy_script(proxies, from_env=from_env)
    wrapper = ('set -eu; umask 022; json=mine; rest=mine; set -- first; %s; '
               'printf "%%s %%s %%s %%s" "$json" "$rest" "$1" "$(umask)"' % command)
    result = run_script(shell, wrapper, tmp_path, {"HTTP_PROXY": "http://proxy:3128"})
    assert result.stdout.decode() == "mine mine first 0022"
    assert json.loads((tmp_path / ".docker" / "config.json").read_text()) == {
        "proxies": {"default": {"httpProxy": "http://proxy:3128"}}}


@pytest.mark.parametrize("shell", SHELLS)
def test_existing_directory_and_file_are_fine(shell, tmp_path):
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text('{"auths": {}}')
    run_script(shell, docker_proxy_script({"noProxy": "docker"}), tmp_path)
    assert json.loads((tmp_path / ".docker" / "config.json").read_text()) == {
        "proxies": {"default": {"noProxy": "docker"}}}


@pytest.mark.parametrize("shell", SHELLS)
def test_path_is_expanded_by_the_shell(shell, tmp_path):
    command = docker_proxy_script({"httpProxy": "x"}, path="$TARGET_DIR/sub dir/config.json")
    run_script(shell, command, tmp_path, {"TARGET_DIR": str(tmp_path / "target")})
    assert json.loads((tmp_path / "target" / "sub dir" / "config.json").read_text()) == {
        "proxies": {"default": {"httpProxy": "x"}}}


@pytest.mark.parametrize("shell", SHELLS)
def test_failure_to_write_fails_the_command(shell, tmp_path):
    (tmp_path / "blocked").write_text("a file, not a directory")
    command = docker_proxy_script({"httpProxy": "x"}, path="$HOME/blocked/config.json")
    with pytest.raises(subprocess.CalledProcessError):
        run_script(shell, command, tmp_path)


@pytest.mark.parametrize("shell", SHELLS)
@settings(max_examples=150, deadline=None)
@given(text=environment_text)
def test_single_quoting_keeps_any_text(shell, text):
    with tempfile.TemporaryDirectory() as directory:
        result = run_script(shell, "printf %s " + shell_single_quote(text), pathlib.Path(directory))
    assert result.stdout == text.encode("utf-8")
