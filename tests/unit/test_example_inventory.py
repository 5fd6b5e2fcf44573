# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventory/example works as its comments say: encrypt vault.yml, and the secrets come out of the vault only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "inventory" / "example"
VAULT_FILE = Path("group_vars") / "runner_hosts" / "vault.yml"
HOST = "runner-01.example.invalid"
TOOLS = Path(sys.executable).parent
VAULT_PASSWORD = "example-vault-password"
VAULT_REFERENCE = re.compile(r"\{\{\s*(vault_\w+)\s*\}\}")


def tool(name):
    return str(TOOLS / name) if (TOOLS / name).exists() else name


def secret_options(options, above=()):
    """Paths of the options marked no_log in a role's argument spec, suboptions included:
    ('cntlm_password',), ('gitlab_runner_runners', 'token'), ..."""
    for name, spec in options.items():
        if spec.get("no_log"):
            yield above + (name,)
        yield from secret_options(spec.get("options") or {}, above + (name,))


SECRETS = sorted({path for spec_file in (REPOSITORY / "roles").glob("*/meta/argument_specs.yml")
                  for entry in yaml.safe_load(spec_file.read_text())["argument_specs"].values()
                  for path in secret_options(entry.get("options") or {})})


def values_at(value, path):
    """The values at `path` in `value`, through lists (a list option's elements each have the suboption)."""
    if not path:
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from values_at(item, path)
    elif isinstance(value, dict) and path[0] in value:
        yield from values_at(value[path[0]], path[1:])


def strings_in(value, path=()):
    """(path, string) of every string in `value`."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_in(item, path + (index,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, path + (key,))


def plain_copy(tmp_path):
    """The example inventory as someone without the vault password reads it: without vault.yml."""
    inventory = tmp_path / "plain"
    shutil.copytree(EXAMPLE, inventory)
    (inventory / VAULT_FILE).unlink()
    return inventory


def encrypted_copy(tmp_path):
    inventory = tmp_path / "example"
    shutil.copytree(EXAMPLE, inventory)
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    password_file.chmod(0o600)
    vault = inventory / VAULT_FILE
    subprocess.run([tool("ansible-vault"), "encrypt", "--vault-password-file", str(password_file), str(vault)],
                   check=True, capture_output=True)
    return inventory, password_file, vault


def host_variables(inventory):
    """Each host's variables as the inventory gives them, templates not rendered."""
    listed = subprocess.run([tool("ansible-inventory"), "-i", str(inventory), "--list"],
                            capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr[-2000:]
    return json.loads(listed.stdout)["_meta"]["hostvars"]


# Renders each variable named in example_variables; those that cannot be rendered fail, the play goes on.
READ_EACH_VARIABLE = """
- name: Read each variable
  hosts: all
  gather_facts: false
  tasks:
    - name: Render it
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.vars', item) }}"
      loop: "{{ example_variables }}"
      ignore_errors: true
"""


def rendered_variables(tmp_path, inventory, names, password_file=None):
    """{name: rendered value} of the variables `names` of HOST that Ansible can render, and the names it cannot."""
    playbook = tmp_path / "read-each-variable.yml"
    playbook.write_text(READ_EACH_VARIABLE)
    names_file = tmp_path / "names.json"
    names_file.write_text(json.dumps({"example_variables": names}))
    command = [tool("ansible-playbook"), "-i", str(inventory), "-l", HOST, "-e", "@%s" % names_file, str(playbook)]
    if password_file:
        command += ["--vault-password-file", str(password_file)]
    environment = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    run = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    results = json.loads(run.stdout)["plays"][0]["tasks"][0]["hosts"][HOST]["results"]
    assert [result["item"] for result in results] == names
    return ({result["item"]: result["msg"] for result in results if not result.get("failed")},
            {result["item"] for result in results if result.get("failed")})


def test_the_runner_token_is_read_from_the_encrypted_vault(tmp_path):
    inventory, password_file, vault = encrypted_copy(tmp_path)
    plain = yaml.safe_load((EXAMPLE / VAULT_FILE).read_text())
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    assert plain["vault_gitlab_runner_token"] not in vault.read_text()

    environment = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    shown = subprocess.run(
        [tool("ansible"), "-i", str(inventory), HOST, "-c", "local",
         "--vault-password-file", str(password_file), "-m", "ansible.builtin.debug", "-a", "var=gitlab_runner_runners"],
        capture_output=True, text=True, check=False, env=environment)
    assert shown.returncode == 0, shown.stdout[-2000:] + shown.stderr[-2000:]
    result = json.loads(shown.stdout)["plays"][0]["tasks"][0]["hosts"][HOST]
    runners = result["gitlab_runner_runners"]
    assert [runner["name"] for runner in runners] == ["runner-01-docker"]
    assert runners[0]["token"] == plain["vault_gitlab_runner_token"]


def test_site_yml_accepts_the_example_inventory(tmp_path):
    inventory, password_file, _vault = encrypted_copy(tmp_path)
    checked = subprocess.run(
        [tool("ansible-playbook"), "-i", str(inventory), "--vault-password-file", str(password_file), "--syntax-check",
         str(REPOSITORY / "playbooks" / "site.yml")], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


def test_every_secret_the_example_inventory_gives_is_a_vault_variable(tmp_path):
    # The roles' specs are read: the options the example sets are among them.
    assert {("cntlm_password",), ("gitlab_runner_runners", "token")} <= set(SECRETS)
    vault = yaml.safe_load((EXAMPLE / VAULT_FILE).read_text())
    assert vault and all(name.startswith("vault_") for name in vault), sorted(vault)
    hosts = host_variables(plain_copy(tmp_path))
    assert HOST in hosts
    for host, variables in hosts.items():
        given = [(path, value) for path in SECRETS for value in values_at(variables, path)]
        assert given, f"{host}: the example gives no secret at all"
        for path, value in given:
            # The message names the option, never its value.
            reference = VAULT_REFERENCE.fullmatch(value) if isinstance(value, str) else None
            assert reference, f"{host}: {'.'.join(path)} is not a vault_* variable of {VAULT_FILE}"
            name = reference.group(1)
            assert name in vault, f"{host}: {'.'.join(path)} names {name}, which {VAULT_FILE} does not define"
        # Nor do proxy or GitLab URLs carry a password outside the vault.
        for path, text in strings_in(variables):
            if "://" in text:
                assert urllib.parse.urlsplit(text).password is None, f"{host}: a password in the URL of {path}"


def test_without_the_vault_exactly_the_secrets_cannot_be_read(tmp_path):
    inventory = plain_copy(tmp_path)
    variables = host_variables(inventory)[HOST]
    names = sorted(variables)
    holding_secrets = {path[0] for path in SECRETS if list(values_at(variables, path))}
    assert holding_secrets

    readable, unreadable = rendered_variables(tmp_path, inventory, names)
    assert unreadable == holding_secrets
    assert readable["cntlm_username"] == "svc-gitlab-runner"

    # With the vault, encrypted, and its password, every one is read, the secrets from the vault.
    inventory, password_file, _vault = encrypted_copy(tmp_path)
    readable, unreadable = rendered_variables(tmp_path, inventory, names, password_file)
    assert unreadable == set()
    vault = yaml.safe_load((EXAMPLE / VAULT_FILE).read_text())
    assert readable["cntlm_password"] == vault["vault_proxy_password"]
    assert [runner["token"] for runner in readable["gitlab_runner_runners"]] == [vault["vault_gitlab_runner_token"]]
