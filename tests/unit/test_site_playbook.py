# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml, from a checkout and as behindproxy.gitlab_runner.site: its plays in their order, its tags and switches
as its header and the README document them, and its preflight's checks run on hosts whose facts are made up."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
PLAYBOOK = REPOSITORY / "playbooks" / "site.yml"
EXAMPLE = REPOSITORY / "inventory" / "example"
PASSWORD_FILE = EXAMPLE / "vault-password.txt"
TOOLS = Path(sys.executable).parent
FORMS = {"checkout": str(REPOSITORY / "site.yml"), "collection": "behindproxy.gitlab_runner.site"}
ROLES = ["docker_proxy", "cntlm", "registry_mirror", "dind_proxy", "gitlab_runner"]
STEPS = ["install", "configure", "verify"]
GIB = 1024 ** 3


def run(*command, **environment):
    return subprocess.run([str(TOOLS / command[0]), *command[1:]], capture_output=True, text=True, check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPOSITORY / "build" / "collections"),
                                   **environment))


def example_playbook(form, *options):
    return run("ansible-playbook", "-i", str(EXAMPLE), "--vault-password-file", str(PASSWORD_FILE), *options, form)


def tags(text):
    return {tag.strip() for tag in text.split(",") if tag.strip()}


def listed_plays(form):
    """[{name, tags, tasks: [(name, tags)], task_tags}] of the playbook as --list-tasks --list-tags shows it."""
    listed = example_playbook(form, "--list-tasks", "--list-tags")
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    plays = []
    for line in listed.stdout.splitlines():
        play = re.fullmatch(r"  play #\d+ \(runner_hosts\): (.*)\tTAGS: \[(.*)\]", line)
        task = re.fullmatch(r"      (?!TASK TAGS: )(.*)\tTAGS: \[(.*)\]", line)
        task_tags = re.fullmatch(r"      TASK TAGS: \[(.*)\]", line)
        if play:
            plays.append({"name": play.group(1), "tags": tags(play.group(2)), "tasks": [], "task_tags": set()})
        elif task:
            plays[-1]["tasks"].append((task.group(1), tags(task.group(2))))
        elif task_tags:
            plays[-1]["task_tags"] = tags(task_tags.group(1))
    assert plays, listed.stdout
    return plays


def role_of(play):
    """The collection's role a play applies, or None."""
    roles = {match.group(1) for name, _tags in play["tasks"]
             for match in [re.match(r"behindproxy\.gitlab_runner\.(\w+) : ", name)] if match}
    assert len(roles) <= 1, roles
    return roles.pop() if roles else None


def header():
    """The playbook's leading comment: its documentation."""
    comments = "\n".join(line for line in PLAYBOOK.read_text().splitlines()[1:] if line.startswith("#"))
    return comments.split("\n- name:", maxsplit=1)[0]


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_the_playbook_passes_the_syntax_check_with_the_example_inventory(form):
    checked = example_playbook(form, "--syntax-check")
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]


def test_both_forms_are_the_same_playbook():
    assert listed_plays(FORMS["checkout"]) == listed_plays(FORMS["collection"])


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_the_preflight_comes_first_the_requests_before_docker_proxy_and_the_docker0_check_before_cntlm(form):
    plays = listed_plays(form)
    preflight = plays[0]
    # It only reads, and every selection of tags needs what it checks.
    assert {"always", "site_preflight"} <= preflight["tags"]
    assert role_of(preflight) is None
    assert any("statement" in name for name, _tags in preflight["tasks"]), preflight["tasks"]
    order = [role_of(play) or play["name"] for play in plays[1:]]
    # Two plays of the playbook's own: the later roles' requests for entries in files
    # docker_proxy writes (before it), and the docker0 check (before cntlm).
    requests, docker0_check = [play["name"] for play in plays[1:] if role_of(play) is None]
    assert order == [requests] + ROLES[:1] + [docker0_check] + ROLES[1:]
    assert "docker_proxy" in next(play for play in plays if play["name"] == requests)["tags"]
    assert "cntlm" in next(play for play in plays if play["name"] == docker0_check)["tags"]


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_each_role_is_tagged_with_its_name_and_its_steps(form):
    for play in listed_plays(form):
        role = role_of(play)
        if role is None:
            continue
        assert all(role in task_tags for _name, task_tags in play["tasks"]), play["tasks"]
        assert {"%s_%s" % (role, step) for step in STEPS} <= play["task_tags"], (role, play["task_tags"])
        assert not [tag for tag in play["task_tags"] if tag.split("_")[0] in ROLES and not tag.startswith(role)]


def documented_form(tag):
    """How the documentation names a tag: a role's step as <role>_<step>."""
    return re.sub(r"^(%s)_(%s)$" % ("|".join(ROLES), "|".join(STEPS)), r"<role>_\2", tag)


def test_every_tag_and_switch_is_documented_in_the_header_and_the_readme():
    listed = {tag for play in listed_plays(FORMS["checkout"]) for tag in play["task_tags"] | play["tags"]}
    assert {"site_preflight", *ROLES} <= listed
    readme = (REPOSITORY / "README.md").read_text()
    for tag in listed - {"always"}:
        for text, where in ((header(), "the header of playbooks/site.yml"), (readme, "README.md")):
            assert documented_form(tag) in text, "tag %s is not documented in %s" % (tag, where)
    code = "\n".join(line for line in PLAYBOOK.read_text().splitlines() if not line.lstrip().startswith("#"))
    switches = set(re.findall(r"\bsite_\w+", code)) - {"site_preflight"}
    assert {"site_cntlm", "site_registry_mirror", "site_dind_proxy", "site_gitlab_runner",
            "site_docker_min_free_gib", "site_docker_data_root"} <= switches
    for switch in switches:
        assert switch in header(), "%s is not documented in the header of playbooks/site.yml" % switch
        assert switch in readme, "%s is not documented in README.md" % switch


# ---------------------------------------------------------------- switches

def role_plays():
    """{role: (the play's vars, its role entry's when)} of playbooks/site.yml."""
    found = {}
    for play in yaml.safe_load(PLAYBOOK.read_text()):
        for entry in play.get("roles", []):
            role = entry["role"].split(".")[-1]
            found[role] = (play.get("vars", {}), entry.get("when", True))
    assert sorted(found) == sorted(ROLES)
    return found


NTLM = {"upstreams": ["proxy.corp.example.invalid:8080"], "username": "u", "password": "p"}
BASIC = {"upstreams": ["proxy.corp.example.invalid:3128"], "auth": "basic", "username": "u", "password": "p"}
NOAUTH = {"upstreams": ["proxy.corp.example.invalid:3128"], "auth": "none"}
# The inventory's variables, and which optional roles run with them.
SWITCH_CASES = {
    "nothing set": ({}, {"cntlm", "gitlab_runner"}),
    "ntlm": ({"behindproxy_proxy": NTLM}, {"cntlm", "gitlab_runner"}),
    "basic": ({"behindproxy_proxy": BASIC}, {"gitlab_runner"}),
    "none": ({"behindproxy_proxy": NOAUTH}, {"gitlab_runner"}),
    "basic, cntlm asked": ({"behindproxy_proxy": BASIC, "site_cntlm": True}, {"cntlm", "gitlab_runner"}),
    "ntlm, cntlm refused": ({"behindproxy_proxy": NTLM, "site_cntlm": "false"}, {"gitlab_runner"}),
    "mirror": ({"site_registry_mirror": True}, {"cntlm", "registry_mirror", "gitlab_runner"}),
    "dind runners": ({"dind_proxy_runners": {"dind": {"mode": "service"}}}, {"cntlm", "dind_proxy", "gitlab_runner"}),
    "dind runners, dind refused": ({"dind_proxy_runners": {"dind": {}}, "site_dind_proxy": False},
                                   {"cntlm", "gitlab_runner"}),
    "no runner": ({"site_gitlab_runner": False}, {"cntlm"}),
}


def test_the_switches_decide_which_roles_run(tmp_path):
    plays = role_plays()
    # docker_proxy always runs: it installs the engine the others need.
    assert plays["docker_proxy"][1] is True
    conditions = {role: " and ".join("(%s)" % when for when in (condition if isinstance(condition, list) else [condition]))
                  for role, (_vars, condition) in plays.items()}
    play_vars = {name: value for variables, _when in plays.values() for name, value in variables.items()}
    # One play per case, on its own host: the plan as the preflight derives it, then each role's condition.
    playbook = [{
        "name": case,
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {**play_vars, **variables},
        "tasks": [
            {"ansible.builtin.set_fact": {
                "__behindproxy_plan": "{{ behindproxy_proxy | default(none) | behindproxy.gitlab_runner.proxy_plan }}"}},
            {"ansible.builtin.debug": {"msg": {role: "{{ (%s) | bool }}" % condition
                                               for role, condition in conditions.items()}}},
        ],
    } for case, (variables, _expected) in SWITCH_CASES.items()]
    playbook_file = tmp_path / "switches.yml"
    playbook_file.write_text(yaml.safe_dump(playbook))
    played = run("ansible-playbook", "-c", "local", "-i", "localhost,", str(playbook_file),
                 ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    assert played.returncode == 0, played.stdout[-3000:] + played.stderr[-3000:]
    results = json.loads(played.stdout)["plays"]
    for (case, (_variables, expected)), result in zip(SWITCH_CASES.items(), results, strict=True):
        decided = result["tasks"][1]["hosts"]["localhost"]["msg"]
        assert {role for role, runs in decided.items() if runs} == expected | {"docker_proxy"}, case


# ---------------------------------------------------------------- the preflight

def preflight_checks():
    """The preflight play's tasks but those that read facts or derive the plan."""
    preflight = yaml.safe_load(PLAYBOOK.read_text())[0]
    checks = [task for task in preflight["tasks"]
              if not {"ansible.builtin.setup", "ansible.builtin.include_role"} & set(task)]
    assert len(checks) >= 4 and any("ansible.builtin.command" in task for task in checks)
    return checks


def host_facts(distribution="Debian", version="12.8", service_mgr="systemd"):
    return {"distribution": distribution, "distribution_version": version,
            "distribution_major_version": version.split(".")[0], "service_mgr": service_mgr}


def preflight_cases(tmp_path):
    """Hosts (this machine, with made-up distribution facts): their facts, their settings, and the words their
    failure says (None: it passes). The free space is this machine's, where the data root would be."""
    data_root = tmp_path / "not-yet" / "docker"
    free_gib = shutil.disk_usage(tmp_path).free / GIB
    mount_point = subprocess.run(["df", "--output=target", str(tmp_path)], capture_output=True, text=True,
                                 check=True).stdout.splitlines()[1].strip()
    enough = {"site_docker_data_root": str(data_root), "site_docker_min_free_gib": round(free_gib / 2, 1)}
    return {
        "debian12": (host_facts(), enough, None),
        "debian13": (host_facts(version="13.0"), enough, None),
        "debian11": (host_facts(version="11.9"), enough, "runs Debian 11.9"),
        "ubuntu2204": (host_facts("Ubuntu", "22.04"), enough, None),
        "ubuntu2004": (host_facts("Ubuntu", "20.04"), enough, "runs Ubuntu 20.04"),
        "rocky9": (host_facts("Rocky", "9.4"), enough, "runs Rocky 9.4"),
        "sysvinit": (host_facts(service_mgr="sysvinit"), enough, "managed by sysvinit"),
        # The data root does not exist yet: the filesystem of the directory above it that does decides.
        "too-little-space": (host_facts(), {**enough, "site_docker_min_free_gib": int(free_gib * 2) + 1},
                             "%s is on %s with" % (data_root, mount_point)),
        "check-skipped": (host_facts(), {"site_docker_min_free_gib": 0, "site_docker_data_root": str(data_root)},
                          None),
        "bad-threshold": (host_facts(), {"site_docker_min_free_gib": "ten"}, "(got ten)"),
        "relative-data-root": (host_facts(), {"site_docker_data_root": "docker"}, "an absolute path (got docker)"),
    }


def test_the_preflight_checks_distribution_systemd_and_free_space(tmp_path):
    cases = preflight_cases(tmp_path)
    inventory = {"all": {"hosts": {case: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                          "made_up_facts": facts, **settings}
                                   for case, (facts, settings, _words) in cases.items()}}}
    inventory_file = tmp_path / "hosts.yml"
    inventory_file.write_text(yaml.safe_dump(inventory))
    playbook = [{"name": "Preflight on made-up facts", "hosts": "all", "gather_facts": False, "tasks": [
        {"ansible.builtin.set_fact": {"cacheable": True, **{name: "{{ made_up_facts['%s'] }}" % name
                                                            for name in host_facts()}}},
        *preflight_checks()]}]
    playbook_file = tmp_path / "preflight.yml"
    playbook_file.write_text(yaml.safe_dump(playbook))
    played = run("ansible-playbook", "-i", str(inventory_file), str(playbook_file),
                 ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    tasks = json.loads(played.stdout)["plays"][0]["tasks"]
    for case, (_facts, _settings, words) in cases.items():
        failures = [task["hosts"][case]["msg"] for task in tasks
                    if case in task["hosts"] and task["hosts"][case].get("failed")]
        if words is None:
            assert failures == [], case
        else:
            assert len(failures) == 1 and words in " ".join(failures[0].split()), (case, failures)
    # Nothing was made where the data root would be.
    assert not (tmp_path / "not-yet").exists()
