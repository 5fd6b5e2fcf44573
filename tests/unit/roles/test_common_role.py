# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The internal role _common: its entry points, its documented statement, and plan.yml in a real play."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_plan import STATEMENT_DEFAULTS

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "_common"
COLLECTIONS_PATH = ROOT / "build" / "collections"
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]


def test_every_entry_point_has_its_tasks_file_and_the_other_way_round():
    assert sorted(SPECS) == sorted(path.stem for path in (ROLE / "tasks").glob("*.yml"))


def test_the_spec_documents_every_statement_key_with_its_default():
    options = SPECS["plan"]["options"]["behindproxy_proxy"]["options"]
    assert sorted(options) == sorted(STATEMENT_DEFAULTS)
    given = {name: spec["default"] for name, spec in options.items() if "default" in spec}
    assert given == {name: value for name, value in STATEMENT_DEFAULTS.items() if name in given}
    assert options["password"]["no_log"] is True


def test_internal_variables_carry_the_internal_prefix():
    names = [name for spec in SPECS.values() for name in spec.get("options", {}) if name != "behindproxy_proxy"]
    assert names and all(name.startswith("__behindproxy_") for name in names)


def test_the_readme_names_every_entry_point_and_internal_fact():
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    for name in list(SPECS) + ["__behindproxy_plan", "__behindproxy_runner_additions",
                               "__behindproxy_dockerd_no_proxy_extra", "__behindproxy_client_no_proxy_extra",
                               "__behindproxy_dropin", "__behindproxy_daemon_json"]:
        assert name in readme


PLAY = """
- hosts: localhost
  gather_facts: false
  vars:
    behindproxy_proxy:
      upstreams: [proxy.corp.example:8080]
      auth: basic
      username: svc
      password: !vault |
@VAULTED@
      @EXTRA@
  tasks:
    - name: The plan
      ansible.builtin.include_role:
        name: behindproxy.gitlab_runner._common
        tasks_from: plan.yml
    - name: What the plan says
      ansible.builtin.assert:
        that:
          - __behindproxy_plan.host_proxy == 'http://svc:S3cret%40pass%23word@proxy.corp.example:8080'
          - __behindproxy_plan.credentials
"""


def ansible_environment(tmp_path):
    """ansible-playbook on localhost with this checkout as the collection and an ANSIBLE_HOME of its own."""
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH), ANSIBLE_NOCOLOR="1",
                ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
                ANSIBLE_HOME=str(tmp_path / "ansible-home"))


def run_play(tmp_path, extra=""):
    bin_dir = Path(sys.executable).parent
    environment = ansible_environment(tmp_path)
    (tmp_path / "vault-password").write_text("lab-only vault password\n")
    encrypted = subprocess.run(
        [str(bin_dir / "ansible-vault"), "encrypt_string", "--vault-password-file", "vault-password",
         "S3cret@pass#word"], cwd=tmp_path, env=environment, capture_output=True, text=True, check=True).stdout
    vaulted = "\n".join("        " + line.strip() for line in encrypted.splitlines()[1:])
    (tmp_path / "play.yml").write_text(PLAY.replace("@VAULTED@", vaulted).replace("@EXTRA@", extra))
    return subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
         "ansible_python_interpreter=%s" % sys.executable, "--vault-password-file", "vault-password", "-vvv",
         "play.yml"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False)


def test_plan_yml_sets_the_plan_from_a_vaulted_statement_and_never_shows_the_password(tmp_path):
    result = run_play(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    for shown in ("S3cret", "S3cret%40pass"):
        assert shown not in output


@pytest.mark.parametrize("extra, message", [
    ("proxy_port: 8080", "behindproxy_proxy has the unknown key 'proxy_port'"),
    ("domain: CORP", "behindproxy_proxy.domain applies to auth ntlm only, and auth is basic"),
])
def test_a_bad_statement_fails_with_a_message_naming_the_key_and_without_the_password(tmp_path, extra, message):
    result = run_play(tmp_path, extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output
    assert "S3cret" not in output


DROPIN_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A drop-in for a unit that does not exist, in check mode
      ansible.builtin.include_role:
        name: behindproxy.gitlab_runner._common
        tasks_from: dropin.yml
      vars:
        __behindproxy_dropin_unit: behindproxy-unit-test-never-written.service
        __behindproxy_dropin_environment:
          HTTP_PROXY: "@PROXY@"
          NO_PROXY: localhost,127.0.0.1
    - name: What the caller gets
      ansible.builtin.assert:
        that:
          - __behindproxy_dropin is changed
          - __behindproxy_dropin.credentials == @SECRET@
          - __behindproxy_dropin.path == '/etc/systemd/system/behindproxy-unit-test-never-written.service.d/http-proxy.conf'
"""


@pytest.mark.parametrize("proxy, secret", [
    ("http://127.0.0.1:3128", False),
    ("http://svc:Dr0pin-S3cret%40x@proxy.corp.example:8080", True),
])
def test_dropin_yml_shows_a_plain_drop_in_and_hides_one_with_a_password(tmp_path, proxy, secret):
    bin_dir = Path(sys.executable).parent
    environment = ansible_environment(tmp_path)
    (tmp_path / "play.yml").write_text(DROPIN_PLAY.replace("@PROXY@", proxy).replace("@SECRET@", str(secret).lower()))
    result = subprocess.run(
        [str(bin_dir / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e",
         "ansible_python_interpreter=%s" % sys.executable, "--check", "--diff", "-vvv", "play.yml"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert not Path("/etc/systemd/system/behindproxy-unit-test-never-written.service.d").exists()
    if secret:
        assert "Dr0pin-S3cret" not in output
        assert 'Environment="HTTP_PROXY=' not in output
    else:
        # The diff shows the drop-in as systemd will read it.
        assert 'Environment="HTTP_PROXY=http://127.0.0.1:3128"' in output
        assert 'Environment="no_proxy=localhost,127.0.0.1"' not in output
        assert 'Environment="NO_PROXY=localhost,127.0.0.1"' in output
