# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The filter plugin: its wrappers, warnings, documentation and a real play."""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.filter import proxy

FILTER_DIR = pathlib.Path(proxy.__file__).parent
COLLECTIONS_PATH = pathlib.Path(proxy.__file__).parents[5]
FILTERS = proxy.FilterModule().filters()


@pytest.fixture
def warnings(monkeypatch):
    shown = []
    monkeypatch.setattr(proxy.display, "warning", shown.append)
    return shown


def test_filter_module_exposes_its_filters():
    assert sorted(FILTERS) == ["cntlm_config_problems", "cntlm_hashes", "docker_proxy_script", "no_proxy",
                               "proxy_credentials", "proxy_env", "proxy_plan"]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_sidecar_documents_the_filter_signature(name):
    sidecar = yaml.safe_load((FILTER_DIR / ("%s.yml" % name)).read_text())
    documentation = sidecar["DOCUMENTATION"]
    assert documentation["name"] == name
    assert documentation["version_added"] == "0.1.0"
    assert sidecar["RETURN"]["_value"]["description"]
    assert isinstance(yaml.safe_load(sidecar["EXAMPLES"]), list)
    parameters = list(inspect.signature(FILTERS[name]).parameters)
    positional = [item.strip() for item in documentation["positional"].split(",")]
    assert positional == ["_input"] + parameters[1:len(positional)]
    assert sorted(documentation["options"]) == sorted(["_input"] + parameters[1:])
    assert documentation["options"]["_input"]["required"] is True


def test_docker_proxy_script_filter():
    assert FILTERS["docker_proxy_script"]({"httpProxy": "http://p:1"}).startswith("(umask 077 && mkdir -p ")
    assert '"${CORP_PROXY-}"' in FILTERS["docker_proxy_script"]({"httpProxy": "CORP_PROXY"}, True)


def test_docker_proxy_script_error_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="^docker_proxy_script: unknown Docker client proxy key 'proxy'"):
        FILTERS["docker_proxy_script"]({"proxy": "x"})


def test_proxy_env_filter_list_and_mapping():
    assert FILTERS["proxy_env"]({"HTTPS_PROXY": "http://p:1"}) == ["HTTPS_PROXY=http://p:1", "https_proxy=http://p:1"]
    assert FILTERS["proxy_env"]({"no_proxy": "a"}, as_dict=True) == {"NO_PROXY": "a", "no_proxy": "a"}


def test_proxy_env_error_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="^proxy_env: HTTP_PROXY and http_proxy are both given"):
        FILTERS["proxy_env"]({"HTTP_PROXY": "a", "http_proxy": "b"})


def test_no_proxy_filter_shows_each_warning(warnings):
    assert FILTERS["no_proxy"]("a,*.b", ["10.0.0.0/8", "A"]) == "a,*.b,10.0.0.0/8"
    assert len(warnings) == 2
    assert "'*.b'" in warnings[0] and "'10.0.0.0/8'" in warnings[1]
    assert all(warning.startswith("no_proxy: ") for warning in warnings)


def test_no_proxy_filter_normalize_silences_fixed_entries(warnings):
    assert FILTERS["no_proxy"](["*.b", ".c"], normalize=True) == "b,c"
    assert warnings == []


def test_no_proxy_error_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="^no_proxy: no_proxy argument 2 must be a list"):
        FILTERS["no_proxy"]("a", 5)


def test_cntlm_hashes_filter(warnings):
    assert FILTERS["cntlm_hashes"]("password", "testuser", "corp-uk") == {
        "PassLM": "1AD35398BE6565DDB5C4EF70C0593492",
        "PassNT": "77B9081511704EE852F94227CF48A793",
        "PassNTLMv2": "1F6839EE15E639893286CF65C5D0A65C",
    }
    assert FILTERS["cntlm_hashes"]("password", "testuser", "corp-uk", "0.94.0")["PassNT"] == \
        "8846F7EAEE8FB117AD06BDD830B7586C"
    assert warnings == []


def test_cntlm_hashes_long_password_warns_without_showing_it(warnings):
    secret = "VeryLongSecret-" * 4
    FILTERS["cntlm_hashes"](secret, "alice", "corp")
    assert len(warnings) == 1
    assert "'alice'" in warnings[0] and "49 bytes" in warnings[0]
    assert "VeryLongSecret" not in warnings[0]


@pytest.mark.parametrize("arguments, message", [
    (("Secret\npart", "alice", "corp"), "password contains a line break"),
    (("SecretPart", "alice", "corp", "next"), "malformed cntlm version 'next'"),
])
def test_cntlm_hashes_errors_never_show_the_password(arguments, message):
    with pytest.raises(AnsibleFilterError, match="^cntlm_hashes: " + message) as error:
        FILTERS["cntlm_hashes"](*arguments)
    assert "Secret" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__


STATEMENT = {"upstreams": ["proxy.corp.example:8080", "backup.corp.example:8080"], "auth": "basic",
             "username": "svc", "password": "S3cret@pass"}


def test_proxy_plan_filter_gives_the_plan_and_shows_its_warnings(warnings):
    plan = FILTERS["proxy_plan"](STATEMENT, docker0="172.17.0.1")
    assert plan["host_proxy"] == "http://svc:S3cret%40pass@proxy.corp.example:8080"
    assert warnings == ["proxy_plan: behindproxy_proxy.upstreams lists 2 proxies, but without cntlm (auth basic) "
                        "only the first, proxy.corp.example:8080, is used"]


def test_proxy_plan_without_a_statement_is_disabled():
    assert FILTERS["proxy_plan"](None)["enabled"] is False


def test_proxy_plan_error_is_a_filter_error_without_the_password():
    with pytest.raises(AnsibleFilterError) as raised:
        FILTERS["proxy_plan"](dict(STATEMENT, domain="CORP"))
    assert str(raised.value).startswith("proxy_plan: behindproxy_proxy.domain applies to auth ntlm only")
    assert "S3cret" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize("value, expected", [
    ({"HTTP_PROXY": "http://svc:p%40ss@proxy.corp.example:8080"}, True),
    ({"HTTP_PROXY": "http://svc:p@ss@proxy.corp.example:8080", "NO_PROXY": "localhost"}, True),
    ({"https_proxy": "svc:pw@proxy.corp.example:8080"}, True),
    ([{"nested": ["ftp://u:pw@ftp.example"]}], True),
    ({"HTTP_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "localhost,127.0.0.1"}, False),
    ({"HTTP_PROXY": "http://svc@proxy.corp.example:8080"}, False),
    ({"NO_PROXY": "user:pw@host"}, False),
    ({}, False),
])
def test_proxy_credentials_reads_urls_as_go_does(value, expected):
    assert FILTERS["proxy_credentials"](value) is expected


def test_cntlm_config_problems_filter():
    assert FILTERS["cntlm_config_problems"]({"cntlm_password": "a#b"}) == []
    assert FILTERS["cntlm_config_problems"]({"cntlm_password": "a#b"}, plaintext_password=True) == [
        "cntlm_password has a '#': cntlm's parser cuts every line at '#', so it would read only what comes before "
        "it; expected a value without '#'"]
    with pytest.raises(AnsibleFilterError, match="^cntlm_config_problems: cntlm_config_problems takes a mapping"):
        FILTERS["cntlm_config_problems"]("cntlm_username")


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    cntlm_password: !vault |
@VAULTED@
  tasks:
    - name: All four filters from the installed collection
      ansible.builtin.assert:
        that:
          - hashes.PassNT == '77B9081511704EE852F94227CF48A793'
          - env == ['HTTP_PROXY=http://p:1', 'http_proxy=http://p:1']
          - merged == 'localhost,*.corp.example'
          - script is search('"[$][{]HTTP_PROXY-[}]"')
      vars:
        hashes: "{{ cntlm_password | behindproxy.gitlab_runner.cntlm_hashes('testuser', 'corp-uk') }}"
        env: "{{ {'HTTP_PROXY': 'http://p:1'} | behindproxy.gitlab_runner.proxy_env }}"
        merged: "{{ ['localhost', 'LOCALHOST'] | behindproxy.gitlab_runner.no_proxy('*.corp.example') }}"
        script: "{{ {} | behindproxy.gitlab_runner.docker_proxy_script(from_env=true) }}"
"""


def test_filters_work_in_a_play_with_a_vaulted_password(tmp_path):
    bin_dir = pathlib.Path(sys.executable).parent
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                       ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_STDOUT_CALLBACK="json")
    (tmp_path / "vault-password").write_text("lab-only vault password\n")
    encrypted = subprocess.run(
        [str(bin_dir / "ansible-vault"), "encrypt_string", "--vault-password-file", "vault-password", "password"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, check=True).stdout
    # encrypt_string prints "!vault |" and then the indented vault lines.
    vaulted = "\n".join("      " + line.strip() for line in encrypted.splitlines()[1:])
    (tmp_path / "play.yml").write_text(PLAYBOOK.replace("@VAULTED@", vaulted))
    result = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "--vault-password-file", "vault-password", "play.yml"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["stats"]["localhost"]["ok"] == 1
    task_result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
    # ansible-core 2.19 attaches warnings shown during a task to its result.
    assert any("NO_PROXY entry '*.corp.example' starts with '*.'" in warning for warning in task_result["warnings"])
    assert "password" not in json.dumps(task_result).lower()
