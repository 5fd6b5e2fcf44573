# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry_mirror and dind_proxy roles in a real play on localhost: where their proxy comes from
(own variable > the statement > the built-in default), what they ask of the docker_proxy and
gitlab_runner roles through the shared role's internal facts, and their preflight's messages.

One ansible-playbook run holds every case; each records what it saw (or the failure's message)
in a fact, printed once at the end. Nothing is written on the host: the cases include
tasks_from files that only read and decide.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]
COLLECTIONS = REPOSITORY / "build" / "collections"
MARKER = "MIRROR-DIND-RESULTS="
PROXY_SECRET = "Pr0xy@Mirror-S3cret"
STATEMENT = {"upstreams": ["proxy.corp.example:8080"], "auth": "ntlm", "username": "svc", "domain": "CORP",
             "password": "lab-statement-password", "ntlm_mode": "NT", "no_proxy": [".corp.example"]}
# The plan as _common's plan.yml derives it on a host whose docker0 is 172.17.0.1.
PLAN = "{{ behindproxy_proxy | behindproxy.gitlab_runner.proxy_plan(docker0='172.17.0.1') }}"
NO_PLAN_NO_PROXY = ["localhost", "127.0.0.1"]
PLAN_NO_PROXY = ["localhost", "127.0.0.1", "::1", "172.17.0.1", "corp.example"]

MIRROR_SEEN = ("{'http': registry_mirror_http_proxy, 'https': registry_mirror_https_proxy,"
               " 'no_proxy': registry_mirror_no_proxy}")
DIND_SEEN = "{'http': dind_proxy_http, 'https': dind_proxy_https, 'no_proxy': dind_proxy_no_proxy}"

# (case, role, variables, with the plan derived from STATEMENT?, expected http, https, no_proxy)
PRECEDENCE = [
    ("mirror-alone", "registry_mirror", {}, False, "", "", NO_PLAN_NO_PROXY),
    ("mirror-alone-own-http", "registry_mirror", {"registry_mirror_http_proxy": "http://10.1.2.3:3128"}, False,
     "http://10.1.2.3:3128", "http://10.1.2.3:3128", NO_PLAN_NO_PROXY),
    ("mirror-package-statement", "registry_mirror", {}, True, "http://127.0.0.1:3128", "http://127.0.0.1:3128",
     PLAN_NO_PROXY),
    ("mirror-container-statement", "registry_mirror", {"registry_mirror_mode": "container"}, True,
     "http://172.17.0.1:3128", "http://172.17.0.1:3128", PLAN_NO_PROXY),
    ("mirror-own-over-statement", "registry_mirror",
     {"registry_mirror_http_proxy": "http://10.1.2.3:3128", "registry_mirror_no_proxy": ["localhost"]}, True,
     "http://10.1.2.3:3128", "http://10.1.2.3:3128", ["localhost"]),
    ("dind-alone", "dind_proxy", {}, False, "", "", NO_PLAN_NO_PROXY),
    ("dind-statement", "dind_proxy", {}, True, "http://172.17.0.1:3128", "http://172.17.0.1:3128", PLAN_NO_PROXY),
    ("dind-own-over-statement", "dind_proxy", {"dind_proxy_https": "http://10.1.2.3:3128"}, True,
     "http://172.17.0.1:3128", "http://10.1.2.3:3128", PLAN_NO_PROXY),
]

# (case, role, tasks file, variables, the words the failure's message must hold)
PREFLIGHT_FAILURES = [
    ("mirror-proxy-with-path", "registry_mirror", "preflight",
     {"registry_mirror_http_proxy": "http://svc:%s@proxy.corp.example:8080/path" % PROXY_SECRET},
     ["registry_mirror_http_proxy", "a URL with credentials (not shown)"]),
    ("mirror-proxy-without-scheme", "registry_mirror", "preflight",
     {"registry_mirror_https_proxy": "proxy.corp.example:8080"},
     ["registry_mirror_https_proxy", "got 'proxy.corp.example:8080'"]),
    ("mirror-upstream-with-credentials", "registry_mirror", "preflight",
     {"registry_mirror_remote_url": "https://hub:%s@registry.corp.example" % PROXY_SECRET},
     ["registry_mirror_remote_url", "without credentials", "a URL with credentials (not shown)"]),
    ("dind-proxy-with-path", "dind_proxy", "preflight",
     {"dind_proxy_http": "http://svc:%s@proxy.corp.example:8080/path" % PROXY_SECRET},
     ["dind_proxy_http", "a URL with credentials (not shown)"]),
    ("dind-mirror-with-credentials", "dind_proxy", "preflight",
     {"dind_proxy_registry_mirror": "http://mirror:%s@172.17.0.1:5000" % PROXY_SECRET},
     ["dind_proxy_registry_mirror", "without credentials", "a URL with credentials (not shown)"]),
    ("dind-alias", "dind_proxy", "no_proxy_extra",
     {"dind_proxy_runners": {"builds": {}}, "dind_proxy_service_alias": "doc ker"},
     ["dind_no_proxy", "alias must be a host name", "'doc ker'"]),
]
GOOD_PREFLIGHT = {"registry_mirror": {"registry_mirror_listen_address": "127.0.0.1"},
                  "dind_proxy": {"dind_proxy_registry_mirror": ""}}


def _record(case, value):
    return {"ansible.builtin.set_fact": {
        "__results": "{{ __results | default({}) | combine({%r: %s}) }}" % (case, value)}}


def _include(role, tasks_from, variables, public=False):
    task = {"ansible.builtin.include_role": {"name": "behindproxy.gitlab_runner.%s" % role, "tasks_from": tasks_from},
            "vars": variables}
    if public:
        task["ansible.builtin.include_role"]["public"] = True
    return task


def _failure_case(case, tasks):
    return {"name": case, "block": tasks + [_record(case, "'passed'")],
            "rescue": [_record(case, "(ansible_failed_result.results | default([]) | selectattr('failed', 'defined')"
                                     " | selectattr('failed') | map(attribute='msg') | list"
                                     " or [ansible_failed_result.msg]) | join(' | ')")]}


def _play(name, tasks):
    return {"name": name, "hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}


def precedence_plays():
    """One play per case: a role included with public: true keeps its variables for the rest of its play."""
    plays = []
    # Cases without a plan first: __behindproxy_plan, once set, stays for the host.
    for case, role, variables, planned, *dummy in sorted(PRECEDENCE, key=lambda case: case[3]):
        tasks = []
        if planned:
            tasks.append({"ansible.builtin.set_fact": {"__behindproxy_plan": PLAN},
                          "vars": {"behindproxy_proxy": STATEMENT}, "no_log": True})
        seen = MIRROR_SEEN if role == "registry_mirror" else DIND_SEEN
        tasks += [_include(role, "no_proxy_extra", variables, public=True), dict(_record(case, seen), vars=variables)]
        plays.append(_play(case, tasks))
    return plays


def playbook():
    tasks = [{"name": "Read the network facts (the preflights check the listen address)",
              "ansible.builtin.setup": {"gather_subset": ["!all", "!min", "network"]}},
             {"ansible.builtin.set_fact": {"__behindproxy_plan": PLAN},
              "vars": {"behindproxy_proxy": STATEMENT}, "no_log": True}]

    # What each role asks of the others, through the shared role's facts
    # (emptied first: the cases above asked already).
    tasks += [
        {"ansible.builtin.set_fact": {"__behindproxy_client_no_proxy_extra": [],
                                      "__behindproxy_dockerd_no_proxy_extra": []}},
        _include("dind_proxy", "no_proxy_extra", {"dind_proxy_runners": {}}),
        _record("client-extra-without-runners", "__behindproxy_client_no_proxy_extra"),
        {"ansible.builtin.set_fact": {"__behindproxy_client_no_proxy_extra": ["gitlab.corp.example"]}},
        _include("dind_proxy", "no_proxy_extra", {"dind_proxy_runners": {"builds": {}}, "dind_proxy_service_alias": "dind"}),
        _include("dind_proxy", "no_proxy_extra", {"dind_proxy_runners": {"builds": {}}, "dind_proxy_service_alias": "dind"}),
        _record("client-extra", "__behindproxy_client_no_proxy_extra"),
        _include("registry_mirror", "no_proxy_extra",
                 {"registry_mirror_dockerd": False, "registry_mirror_listen_address": "192.0.2.10"}),
        _record("dockerd-extra-without-dockerd", "__behindproxy_dockerd_no_proxy_extra"),
        _include("registry_mirror", "no_proxy_extra", {"registry_mirror_listen_address": "192.0.2.10"}),
        _include("registry_mirror", "no_proxy_extra", {}),
        _include("registry_mirror", "no_proxy_extra", {"registry_mirror_listen_address": "192.0.2.10"}),
        _record("dockerd-extra", "__behindproxy_dockerd_no_proxy_extra"),
    ]

    # dind_proxy decides the runners' additions without knowing the gitlab_runner role's runners.
    dind = {"dind_proxy_runners": {"dind-service": {"mode": "service"}, "dind-shared": {"mode": "shared"}},
            "dind_proxy_registry_mirror": "http://172.17.0.1:5000", "gitlab_runner_runners": [{"name": "other"}]}
    tasks.append(_failure_case("runner-additions", [_include("dind_proxy", "preflight", dind),
                                                    _include("dind_proxy", "runners", dind)]))
    tasks.append(_record("runner-additions-fact",
                         "{'names': __behindproxy_runner_additions.keys() | sort,"
                         " 'service_command': __behindproxy_runner_additions['dind-service'].services[0].command,"
                         " 'shared_host': __behindproxy_runner_additions['dind-shared'].settings.docker.host,"
                         " 'old_fact': dind_proxy_runner_additions is defined}"))

    for role, variables in GOOD_PREFLIGHT.items():
        tasks.append(_failure_case("%s-good" % role, [_include(role, "preflight", variables)]))
    for case, role, tasks_from, variables, dummy in PREFLIGHT_FAILURES:
        tasks.append(_failure_case(case, [_include(role, tasks_from, dict(GOOD_PREFLIGHT[role], **variables))]))

    tasks.append({"name": "Results", "ansible.builtin.debug": {"msg": MARKER + "{{ __results | to_json }}"}})
    return precedence_plays() + [_play("registry_mirror and dind_proxy on localhost", tasks)]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(results by case, the whole output at -v) of one ansible-playbook run over every case."""
    directory = tmp_path_factory.mktemp("mirror_dind")
    path = directory / "playbook.yml"
    path.write_text(yaml.safe_dump(playbook(), sort_keys=False))
    environment = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_HOME=str(directory / "ansible-home"), ANSIBLE_LOCALHOST_WARNING="0",
                       ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_STDOUT_CALLBACK="default",
                       ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-v", "-i", "localhost,",
               "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)]
    finished = subprocess.run(command, cwd=str(directory), env=environment, capture_output=True, text=True,
                              timeout=600, check=False)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    line = next(line for line in output.splitlines() if MARKER in line)
    return json.loads(json.loads('"%s"' % line.split(MARKER, 1)[1].rstrip().rstrip('"'))), output


@pytest.mark.parametrize("case, role, variables, planned, http, https, no_proxy", PRECEDENCE,
                         ids=[case[0] for case in PRECEDENCE])
def test_own_variable_then_statement_then_default(run, case, role, variables, planned, http, https, no_proxy):
    assert run[0][case] == {"http": http, "https": https, "no_proxy": no_proxy}


def test_dind_asks_for_its_host_name_and_ports_in_the_client_s_no_proxy_once(run):
    results = run[0]
    assert results["client-extra-without-runners"] == []
    assert results["client-extra"] == ["gitlab.corp.example", "dind", "dind:2375", "dind:2376"]


def test_the_mirror_asks_for_its_address_in_dockerd_s_no_proxy_once(run):
    results = run[0]
    assert results["dockerd-extra-without-dockerd"] == []
    # Its listen address, then (without one) the docker0 address the plan read.
    assert results["dockerd-extra"] == ["192.0.2.10", "172.17.0.1"]


def test_dind_decides_the_runners_additions_without_reading_the_runner_role_s_runners(run):
    results = run[0]
    assert results["runner-additions"] == "passed"
    fact = results["runner-additions-fact"]
    assert fact["names"] == ["dind-service", "dind-shared"]
    assert "--registry-mirror=http://172.17.0.1:5000" in fact["service_command"]
    assert fact["shared_host"] == "unix:///run/gitlab-dind/docker.sock"
    assert fact["old_fact"] is False


@pytest.mark.parametrize("role", sorted(GOOD_PREFLIGHT))
def test_good_variables_pass_the_preflight(run, role):
    assert run[0]["%s-good" % role] == "passed"


@pytest.mark.parametrize("case, role, tasks_from, variables, words", PREFLIGHT_FAILURES,
                         ids=[case[0] for case in PREFLIGHT_FAILURES])
def test_a_bad_variable_is_named_and_no_password_shown(run, case, role, tasks_from, variables, words):
    message = " ".join(run[0][case].split())
    assert message != "passed"
    for word in words:
        assert word in message
    assert PROXY_SECRET not in message


def test_no_password_anywhere_in_the_output(run):
    output = run[1]
    assert PROXY_SECRET not in output
    assert PROXY_SECRET.split("@")[1] not in output
    assert STATEMENT["password"] not in output
