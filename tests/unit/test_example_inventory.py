# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventory/example works as it is, with its documented example vault password: each of its three cases states
the proxy once, the statement passes the proxy_plan checks and means what the case says, and the secrets come
out of the encrypted vault only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "inventory" / "example"
PASSWORD_FILE = EXAMPLE / "vault-password.txt"
VAULT_FILE = Path("group_vars") / "runner_hosts" / "vault.yml"
TOOLS = Path(sys.executable).parent
VAULT_REFERENCE = re.compile(r"\{\{\s*(vault_\w+)\s*\}\}")
# Each case's group and the authentication its statement names.
CASES = {"ntlm_proxy_hosts": "ntlm", "basic_proxy_hosts": "basic", "noauth_proxy_hosts": "none"}
# The docker0 address the plans are derived with (Docker's default bridge).
DOCKER0 = "172.17.0.1"


def tool(name):
    return str(TOOLS / name) if (TOOLS / name).exists() else name


def run(*command, **environment):
    return subprocess.run([tool(command[0]), *command[1:]], capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPOSITORY / "build" / "collections"),
                                   **environment))


def inventory_command(*options, inventory=EXAMPLE, password=True):
    return run("ansible-inventory", "-i", str(inventory), *options,
               *(["--vault-password-file", str(PASSWORD_FILE)] if password else []))


def vault_values():
    """The vault's variables, decrypted with the documented example password."""
    secret = VaultSecret(PASSWORD_FILE.read_text().strip().encode())
    return yaml.safe_load(VaultLib([("default", secret)]).decrypt((EXAMPLE / VAULT_FILE).read_bytes()))


def listed_inventory(**options):
    listed = inventory_command("--list", **options)
    assert listed.returncode == 0, listed.stderr[-2000:]
    return json.loads(listed.stdout)


def hosts_of(listed, group):
    return listed.get(group, {}).get("hosts", [])


def secret_options(options, above=()):
    """Paths of the options marked no_log in a role's argument spec, suboptions included:
    ('behindproxy_proxy', 'password'), ('gitlab_runner_runners', 'token'), ..."""
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


def json_output(command):
    """The JSON callback's result of an ad-hoc command or playbook: {host: result} of its first task."""
    assert command.returncode == 0, command.stdout[-3000:] + command.stderr[-3000:]
    return json.loads(command.stdout)["plays"][0]["tasks"][0]["hosts"]


JSON_CALLBACK = {"ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "json"}


def test_the_graph_shows_the_three_cases_under_runner_hosts():
    graph = inventory_command("--graph")
    assert graph.returncode == 0, graph.stderr[-2000:]
    lines = graph.stdout.splitlines()
    # Each case is a group one level under runner_hosts, with its hosts under it.
    assert "  |--@runner_hosts:" in lines
    for group in CASES:
        assert "  |  |--@%s:" % group in lines, graph.stdout
    listed = listed_inventory()
    assert sorted(listed["runner_hosts"]["children"]) == sorted(CASES)
    hosts = [host for group in CASES for host in hosts_of(listed, group)]
    assert all(hosts_of(listed, group) for group in CASES)
    assert len(set(hosts)) == len(hosts)
    assert all(host.endswith(".example.invalid") for host in listed["_meta"]["hostvars"]), listed["_meta"]
    assert hosts_of(listed, "ungrouped") == []


def test_the_list_shows_each_case_stating_its_proxy_once():
    listed = listed_inventory()
    vault = vault_values()
    for group, auth in CASES.items():
        for host in hosts_of(listed, group):
            variables = listed["_meta"]["hostvars"][host]
            statement = variables["behindproxy_proxy"]
            assert statement["auth"] == auth, (host, statement)
            assert statement["upstreams"] and statement["no_proxy"]
            # The proxy is stated once: no role's own proxy variable beside the statement.
            assert not [name for name in variables if re.search(r"_(https?_)?proxy(_\w+)?$", name)
                        and name != "behindproxy_proxy" and not name.startswith("vault_")], sorted(variables)
            if auth == "none":
                assert "username" not in statement and "password" not in statement
            else:
                # The password is the vault's, referenced, never written in the statement.
                reference = VAULT_REFERENCE.fullmatch(statement["password"])
                assert reference and reference.group(1) in vault, (host, group)


def test_each_case_passes_the_plan_checks_and_means_what_it_says():
    rendered = json_output(run(
        "ansible", "-i", str(EXAMPLE), "runner_hosts", "--vault-password-file", str(PASSWORD_FILE),
        "-m", "ansible.builtin.debug",
        "-a", "msg={{ behindproxy_proxy | behindproxy.gitlab_runner.proxy_plan(docker0='%s') }}" % DOCKER0,
        **JSON_CALLBACK))
    vault = vault_values()
    listed = listed_inventory()
    seen = set()
    for group, auth in CASES.items():
        for host in hosts_of(listed, group):
            plan = rendered[host]["msg"]
            statement = listed["_meta"]["hostvars"][host]["behindproxy_proxy"]
            assert plan["enabled"] is True
            assert plan["cntlm"] is (auth == "ntlm"), (host, plan["cntlm"])
            assert plan["docker0"] == DOCKER0
            # The corporate network is reached directly, by every client.
            assert "corp.example.invalid" in ",".join(plan["no_proxy_jobs"]).split(",")
            assert {"localhost", "127.0.0.1", DOCKER0} <= set(plan["no_proxy_go"])
            if auth == "ntlm":
                # cntlm on this host: services use its loopback address, containers its docker0 address.
                assert plan["cntlm_upstreams"] == statement["upstreams"]
                assert (plan["cntlm_username"], plan["cntlm_domain"], plan["cntlm_auth"]) == (
                    "svc-gitlab-runner", "CORP", "NTLMv2")
                port = statement["local_port"]
                assert plan["host_proxy"] == "http://127.0.0.1:%d" % port
                assert plan["container_proxy"] == "http://%s:%d" % (DOCKER0, port)
                assert plan["cntlm_listen"] == ["%s:%d" % (DOCKER0, port), "127.0.0.1:%d" % port]
                assert plan["credentials"] is False
            else:
                # No cntlm: both go to the first corporate proxy directly.
                assert plan["host_proxy"] == plan["container_proxy"]
                url = urllib.parse.urlsplit(plan["host_proxy"])
                assert (url.scheme, "%s:%d" % (url.hostname, url.port)) == ("http", statement["upstreams"][0])
                assert plan["credentials"] is (auth == "basic")
                if auth == "basic":
                    password = vault[VAULT_REFERENCE.fullmatch(statement["password"]).group(1)]
                    assert (url.username, urllib.parse.unquote(url.password)) == ("svc-gitlab-runner", password)
                    # The example password needs escaping, as real ones do: the URL holds it encoded.
                    assert password not in plan["host_proxy"]
                else:
                    assert url.username is None and url.password is None
            seen.add(auth)
    assert seen == set(CASES.values())


def test_the_vault_file_is_encrypted_and_holds_no_clear_secret():
    text = (EXAMPLE / VAULT_FILE).read_text()
    header, *body = text.splitlines()
    assert header == "$ANSIBLE_VAULT;1.1;AES256"
    assert body and all(re.fullmatch(r"[0-9a-f]+", line) for line in body)
    vault = vault_values()
    assert vault and all(name.startswith("vault_") for name in vault), sorted(vault)
    for name, value in vault.items():
        assert name not in text
        assert str(value) not in text


def test_the_vault_defines_exactly_the_secrets_the_inventory_names():
    named = {match.group(1) for path in EXAMPLE.rglob("*.yml") if path != EXAMPLE / VAULT_FILE
             for match in VAULT_REFERENCE.finditer(path.read_text())}
    assert named == set(vault_values())


def test_without_the_password_the_inventory_shows_no_secret():
    listed = inventory_command("--list", password=False)
    assert listed.returncode != 0
    assert "vault" in listed.stderr.lower()
    for value in vault_values().values():
        assert str(value) not in listed.stdout + listed.stderr


def test_the_example_password_is_documented_with_how_to_change_it():
    password = PASSWORD_FILE.read_text().strip()
    assert password
    for document in (REPOSITORY / "README.md", EXAMPLE / "hosts.yml"):
        text = document.read_text()
        assert "inventory/example/vault-password.txt" in text, document
        assert "ansible-vault rekey" in text, document


def test_every_secret_the_example_inventory_gives_is_a_vault_variable(tmp_path):
    # The roles' specs are read: the options the example sets are among them.
    assert {("behindproxy_proxy", "password"), ("gitlab_runner_runners", "token")} <= set(SECRETS)
    vault = vault_values()
    hosts = listed_inventory(inventory=plain_copy(tmp_path), password=False)["_meta"]["hostvars"]
    assert hosts
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


# Renders each variable named in example_variables; those that cannot be rendered fail, the play goes on.
READ_EACH_VARIABLE = """
- name: Read each variable
  hosts: runner_hosts
  gather_facts: false
  tasks:
    - name: Render it
      ansible.builtin.debug:
        msg: "{{ lookup('ansible.builtin.vars', item) }}"
      loop: "{{ example_variables }}"
      ignore_errors: true
"""


def rendered_variables(tmp_path, inventory, names, password=False):
    """{host: ({name: rendered value} of the variables `names` Ansible can render, {the names it cannot})}."""
    playbook = tmp_path / "read-each-variable.yml"
    playbook.write_text(READ_EACH_VARIABLE)
    names_file = tmp_path / "names.json"
    names_file.write_text(json.dumps({"example_variables": names}))
    hosts = json_output(run("ansible-playbook", "-i", str(inventory), "-e", "@%s" % names_file, str(playbook),
                            *(["--vault-password-file", str(PASSWORD_FILE)] if password else []), **JSON_CALLBACK))
    rendered = {}
    for host, result in hosts.items():
        results = result["results"]
        assert [item["item"] for item in results] == names
        rendered[host] = ({item["item"]: item["msg"] for item in results if not item.get("failed")},
                          {item["item"] for item in results if item.get("failed")})
    return rendered


@pytest.mark.parametrize("password", [False, True], ids=["without-the-vault", "with-the-vault"])
def test_exactly_the_secrets_need_the_vault(tmp_path, password):
    plain = plain_copy(tmp_path)
    hosts = listed_inventory(inventory=plain, password=False)["_meta"]["hostvars"]
    names = sorted({name for variables in hosts.values() for name in variables})
    rendered = rendered_variables(tmp_path, EXAMPLE if password else plain, names, password=password)
    assert set(rendered) == set(hosts)
    vault = vault_values()
    for host, variables in hosts.items():
        readable, unreadable = rendered[host]
        if not password:
            # The variables that hold a secret, and only those, cannot be read without the vault.
            assert unreadable == {path[0] for path in SECRETS if list(values_at(variables, path))}, host
            assert "gitlab_runner_runners" in unreadable
            continue
        assert unreadable == set(), host
        statement = readable["behindproxy_proxy"]
        if "password" in variables["behindproxy_proxy"]:
            assert statement["password"] == vault[VAULT_REFERENCE.fullmatch(
                variables["behindproxy_proxy"]["password"]).group(1)]
        assert [runner["token"] for runner in readable["gitlab_runner_runners"]] == [vault["vault_gitlab_runner_token"]]
