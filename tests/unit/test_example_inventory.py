# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventory/example works as its comments say: encrypt vault.yml, and the runner's token comes out of the vault."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
TOOLS = Path(sys.executable).parent
VAULT_PASSWORD = "example-vault-password"


def tool(name):
    return str(TOOLS / name) if (TOOLS / name).exists() else name


def encrypted_copy(tmp_path):
    inventory = tmp_path / "example"
    shutil.copytree(REPOSITORY / "inventory" / "example", inventory)
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    password_file.chmod(0o600)
    vault = inventory / "group_vars" / "runner_hosts" / "vault.yml"
    subprocess.run([tool("ansible-vault"), "encrypt", "--vault-password-file", str(password_file), str(vault)],
                   check=True, capture_output=True)
    return inventory, password_file, vault


def test_the_runner_token_is_read_from_the_encrypted_vault(tmp_path):
    inventory, password_file, vault = encrypted_copy(tmp_path)
    plain = yaml.safe_load((REPOSITORY / "inventory" / "example" / "group_vars" / "runner_hosts" / "vault.yml").read_text())
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    assert plain["vault_gitlab_runner_token"] not in vault.read_text()

    environment = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    shown = subprocess.run(
        [tool("ansible"), "-i", str(inventory), "runner-01.example.invalid", "-c", "local",
         "--vault-password-file", str(password_file), "-m", "ansible.builtin.debug", "-a", "var=gitlab_runner_runners"],
        capture_output=True, text=True, check=False, env=environment)
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    result = json.loads(shown.stdout)["plays"][0]["tasks"][0]["hosts"]["runner-01.example.invalid"]
    runners = result["gitlab_runner_runners"]
    assert [runner["name"] for runner in runners] == ["runner-01-docker"]
    assert runners[0]["token"] == plain["vault_gitlab_runner_token"]


def test_site_yml_accepts_the_example_inventory(tmp_path):
    inventory, password_file, _vault = encrypted_copy(tmp_path)
    checked = subprocess.run(
        [tool("ansible-playbook"), "-i", str(inventory), "--vault-password-file", str(password_file), "--syntax-check",
         str(REPOSITORY / "playbooks" / "site.yml")], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


def test_without_the_vault_password_the_inventory_cannot_be_read(tmp_path):
    inventory, _password_file, _vault = encrypted_copy(tmp_path)
    refused = subprocess.run([tool("ansible-inventory"), "-i", str(inventory), "--list"],
                             capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert "vault" in (refused.stdout + refused.stderr).lower()
