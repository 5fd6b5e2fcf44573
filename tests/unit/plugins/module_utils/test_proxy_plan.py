# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The proxy statement: its checks, the plan derived from it, and the rules for cntlm.conf values."""

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _proxy_plan
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import parse_url
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo, url_passwords
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_plan import (
    basic_proxy_url,
    check_statement,
    cntlm_config_problems,
    cntlm_no_proxy,
    proxy_plan,
)

PASSWORD = "S3cret#pass\nword"
GO_USERINFO = json.loads((pathlib.Path(__file__).parents[2] / "data" / "go_url_userinfo.json").read_text("utf-8"))

# The lab's statement (molecule/cntlm, molecule/docker_proxy).
LAB = {
    "upstreams": ["corp-proxy:3128"],
    "auth": "ntlm",
    "username": "runner",
    "domain": "LAB",
    "password": "lab-ntlm-password",
    "ntlm_mode": "NT",
}
PLAN_KEYS = ["cntlm", "cntlm_auth", "cntlm_domain", "cntlm_listen", "cntlm_no_proxy", "cntlm_password", "cntlm_port",
             "cntlm_upstreams", "cntlm_username", "cntlm_workstation", "container_proxy", "credentials", "docker0",
             "enabled", "host_proxy", "no_proxy_go", "no_proxy_jobs"]


def plan_of(statement, docker0="172.17.0.1"):
    return proxy_plan(statement, docker0=docker0)[0]


class TestNoStatement:

    @pytest.mark.parametrize("statement", [None, {}])
    def test_gives_the_disabled_plan_with_every_key_empty_but_docker0(self, statement):
        plan, warnings = proxy_plan(statement, docker0="172.17.0.1")
        assert sorted(plan) == PLAN_KEYS
        assert plan["enabled"] is False and plan["cntlm"] is False and plan["credentials"] is False
        assert plan["docker0"] == "172.17.0.1"
        assert [key for key, value in plan.items() if value and key != "docker0"] == []
        assert warnings == []

    @pytest.mark.parametrize("docker0", ["172.17.0.300", "eth0", "2001:db8::1"])
    def test_a_docker0_that_is_no_ipv4_address_is_refused(self, docker0):
        with pytest.raises(ValueError, match="docker0 must be the IPv4 address"):
            proxy_plan(LAB, docker0=docker0)


class TestNtlm:

    def test_the_lab_statement_gives_cntlm_on_docker0_and_loopback(self):
        assert plan_of(LAB) == {
            "enabled": True,
            "cntlm": True,
            "cntlm_upstreams": ["corp-proxy:3128"],
            "cntlm_auth": "NT",
            "cntlm_username": "runner",
            "cntlm_domain": "LAB",
            "cntlm_workstation": "",
            "cntlm_password": "lab-ntlm-password",
            "cntlm_port": 3128,
            "cntlm_listen": ["172.17.0.1:3128", "127.0.0.1:3128"],
            "cntlm_no_proxy": ["localhost", "127.0.0.*"],
            "host_proxy": "http://127.0.0.1:3128",
            "container_proxy": "http://172.17.0.1:3128",
            "credentials": False,
            "no_proxy_go": ["localhost", "127.0.0.1", "::1", "172.17.0.1"],
            "no_proxy_jobs": ["localhost", "127.0.0.1", "::1", "172.17.0.1"],
            "docker0": "172.17.0.1",
        }

    def test_without_docker0_containers_get_no_proxy_yet_and_cntlm_listens_on_loopback(self):
        plan = plan_of(LAB, docker0="")
        assert plan["container_proxy"] == ""
        assert plan["cntlm_listen"] == ["127.0.0.1:3128"]
        assert plan["host_proxy"] == "http://127.0.0.1:3128"
        assert plan["no_proxy_go"] == ["localhost", "127.0.0.1", "::1"]

    def test_defaults_fill_what_the_statement_leaves_out(self):
        plan = plan_of({"upstreams": ["proxy.corp.example:8080", "[2001:db8::8]:8080"],
                        "username": "svc", "password": "pw"})
        assert plan["cntlm_auth"] == "NTLMv2"
        assert plan["cntlm_domain"] == "" and plan["cntlm_workstation"] == ""
        assert plan["cntlm_upstreams"] == ["proxy.corp.example:8080", "[2001:db8::8]:8080"]

    def test_local_port_moves_every_url_and_listen_address(self):
        plan = plan_of(dict(LAB, local_port="3129"))
        assert plan["cntlm_port"] == 3129
        assert plan["cntlm_listen"] == ["172.17.0.1:3129", "127.0.0.1:3129"]
        assert plan["host_proxy"] == "http://127.0.0.1:3129"
        assert plan["container_proxy"] == "http://172.17.0.1:3129"


class TestBasicAndNone:

    def test_basic_puts_the_encoded_credentials_in_both_urls_of_the_first_upstream(self):
        plan, warnings = proxy_plan({"upstreams": ["proxy.corp.example:8080", "backup.corp.example:8080"],
                                     "auth": "basic", "username": "svc", "password": "p@ss:w/rd"},
                                    docker0="172.17.0.1")
        assert plan["host_proxy"] == plan["container_proxy"] == "http://svc:p%40ss%3Aw%2Frd@proxy.corp.example:8080"
        assert plan["credentials"] is True
        assert plan["cntlm"] is False and plan["cntlm_password"] == "" and plan["cntlm_listen"] == []
        assert warnings == ["behindproxy_proxy.upstreams lists 2 proxies, but without cntlm (auth basic) only the "
                            "first, proxy.corp.example:8080, is used"]

    def test_none_gives_the_plain_url_and_no_credentials(self):
        plan = plan_of({"upstreams": ["proxy.corp.example:8080"], "auth": "none", "no_proxy": [".corp.example"]},
                       docker0="")
        assert plan["host_proxy"] == plan["container_proxy"] == "http://proxy.corp.example:8080"
        assert plan["credentials"] is False and plan["cntlm"] is False
        assert plan["no_proxy_go"] == ["localhost", "127.0.0.1", "::1", "corp.example"]

    @pytest.mark.parametrize("row", GO_USERINFO["rows"], ids=lambda row: row["password"])
    def test_gos_url_parse_reads_back_the_user_and_password(self, row):
        host = row["go_host"]
        assert basic_proxy_url(host, row["username"], row["password"]) == row["url"]
        assert (row["go_username"], row["go_password"]) == (row["username"], row["password"])

    def test_the_go_table_holds_the_awkward_characters(self):
        awkward = "".join(row["password"] for row in GO_USERINFO["rows"])
        assert all(character in awkward for character in "@:'%#/?\\ ")

    @settings(max_examples=300, deadline=None)
    @given(username=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
           password=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30))
    def test_any_credentials_read_back_as_given_and_are_masked(self, username, password):
        url = basic_proxy_url("proxy.corp.example:8080", username, password)
        address = parse_url(url)
        assert (address.username, address.password, address.host, address.port) == (
            username, password, "proxy.corp.example", 8080)
        assert mask_url_userinfo(url).endswith(":********@proxy.corp.example:8080")
        assert len(url_passwords(url)) == 1


class TestNoProxy:

    def test_domains_in_any_spelling_become_the_plain_form(self):
        plan = plan_of(dict(LAB, no_proxy=[".corp.example", "*.lab.example", "git.corp.example", "CORP.example"]))
        assert plan["no_proxy_go"] == plan["no_proxy_jobs"] == [
            "localhost", "127.0.0.1", "::1", "172.17.0.1", "corp.example", "lab.example", "git.corp.example"]

    def test_cidr_and_ports_are_kept_with_a_warning_for_jobs(self):
        plan, warnings = proxy_plan(dict(LAB, no_proxy=["10.0.0.0/8", "git.corp.example:8443"]), docker0="")
        assert plan["no_proxy_jobs"][-2:] == ["10.0.0.0/8", "git.corp.example:8443"]
        assert plan["no_proxy_go"] == plan["no_proxy_jobs"]
        assert any("'10.0.0.0/8' is a CIDR range" in warning for warning in warnings)
        assert any("'git.corp.example:8443' has a port" in warning for warning in warnings)

    def test_cntlm_gets_globs(self):
        globs, warnings = cntlm_no_proxy([".corp.example", "*.lab.example", "10.0.0.0/8", "172.16.4.0/22",
                                          "192.0.2.7", "git.corp.example:8443", "[2001:db8::7]:443", "2001:db8::/32"])
        assert globs == ["localhost", "127.0.0.*", "corp.example", "*.corp.example", "lab.example", "*.lab.example",
                         "10.*.*.*", "172.16.4.*", "172.16.5.*", "172.16.6.*", "172.16.7.*", "192.0.2.7",
                         "git.corp.example", "*.git.corp.example", "2001:db8::7"]
        assert warnings == ["no_proxy entry '2001:db8::/32' is an IPv6 range, which cntlm's NoProxy (globs) cannot "
                            "match: cntlm sends those hosts to the upstream proxy"]

    def test_the_cntlm_list_reaches_the_plan(self):
        assert plan_of(dict(LAB, no_proxy=["corp.example"]))["cntlm_no_proxy"] == [
            "localhost", "127.0.0.*", "corp.example", "*.corp.example"]

    def test_the_existing_normaliser_decides(self, monkeypatch):
        calls = []

        def merge(entries, normalize=False):
            calls.append((list(entries), normalize))
            return ",".join(entries), []

        monkeypatch.setattr(_proxy_plan, "merge_no_proxy", merge)
        plan_of(dict(LAB, no_proxy=["corp.example"]), docker0="")
        assert calls == [(["localhost", "127.0.0.1", "::1", "corp.example"], True)] * 2


# (statement, what the message must say)
BAD_STATEMENTS = [
    ("no statement at all", "behindproxy_proxy must be a mapping with the keys upstreams, auth,"),
    (dict(LAB, proxy="corp-proxy:3128"),
     "behindproxy_proxy has the unknown key 'proxy': the known keys are upstreams, auth, username, domain, "
     "password, ntlm_mode, workstation, no_proxy, local_port"),
    (dict(LAB, ca="x", pac="y"), "unknown keys 'ca', 'pac'"),
    (dict(LAB, auth="kerberos"), "behindproxy_proxy.auth must be one of ntlm, basic, none"),
    (dict(LAB, auth="NTLM"), "behindproxy_proxy.auth must be one of ntlm, basic, none"),
    (dict(LAB, upstreams=[]), "behindproxy_proxy.upstreams must list the corporate proxies as host:port"),
    (dict(LAB, upstreams="corp-proxy:3128"), "behindproxy_proxy.upstreams must list"),
    (dict(LAB, upstreams=["corp-proxy"]), "behindproxy_proxy.upstreams[0] 'corp-proxy' has no port"),
    (dict(LAB, upstreams=["p:1", "http://corp-proxy:3128"]), "behindproxy_proxy.upstreams[1] 'http://corp-proxy:3128' has '/'"),
    (dict(LAB, upstreams=["user:pw@corp-proxy:3128"]), "has '@'"),
    (dict(LAB, upstreams=["corp-proxy:3128/"]), "has '/'"),
    (dict(LAB, upstreams=["corp-proxy:0"]), "behindproxy_proxy.upstreams[0] 'corp-proxy:0' is not host:port"),
    (dict(LAB, upstreams=["corp-proxy:70000"]), "is not host:port"),
    (dict(LAB, upstreams=["2001:db8::8:8080"]), "is not host:port"),
    (dict(LAB, upstreams=["corp proxy:3128"]), "has ' '"),
    (dict(LAB, upstreams=[3128]), "behindproxy_proxy.upstreams[0] must be host:port"),
    (dict(LAB, local_port=0), "behindproxy_proxy.local_port must be a port number from 1 to 65535, got 0"),
    (dict(LAB, local_port=True), "behindproxy_proxy.local_port must be a port number"),
    (dict(LAB, local_port="31x"), "behindproxy_proxy.local_port must be a port number"),
    ({k: v for k, v in LAB.items() if k != "username"}, "behindproxy_proxy.username is required with auth ntlm"),
    ({k: v for k, v in LAB.items() if k != "password"}, "behindproxy_proxy.password is required with auth ntlm"),
    ({"upstreams": ["p:1"], "auth": "basic", "username": "svc"}, "behindproxy_proxy.password is required with auth basic"),
    ({"upstreams": ["p:1"], "auth": "basic", "password": "x"}, "behindproxy_proxy.username is required with auth basic"),
    ({"upstreams": ["p:1"], "auth": "none", "username": "svc"},
     "behindproxy_proxy.username applies to auth ntlm and basic only, and auth is none: leave it out"),
    ({"upstreams": ["p:1"], "auth": "basic", "username": "u", "password": "p", "domain": "CORP"},
     "behindproxy_proxy.domain applies to auth ntlm only, and auth is basic"),
    (dict(LAB, username=12345), "behindproxy_proxy.username must be a string, got int 12345 (quote it in YAML)"),
    (dict(LAB, password=12345), "behindproxy_proxy.password must be a string, got int (quote it in YAML)"),
    (dict(LAB, ntlm_mode="ntlmv2"), "behindproxy_proxy.ntlm_mode must be one of NTLMv2, NTLM2SR, NT, NTLM, LM"),
    (dict(LAB, username="runner\nHeader yes"), "behindproxy_proxy.username 'runner\\nHeader yes' has a line break"),
    (dict(LAB, domain="LAB\rProxy evil:1"), "behindproxy_proxy.domain 'LAB\\rProxy evil:1' has a line break"),
    (dict(LAB, workstation="ws\n"), "behindproxy_proxy.workstation 'ws\\n' has a line break"),
    (dict(LAB, username="run#ner"), "behindproxy_proxy.username 'run#ner' has a '#': cntlm's parser cuts"),
    (dict(LAB, domain=" LAB"), "behindproxy_proxy.domain ' LAB' starts or ends with white space"),
    (dict(LAB, password="S3cret-pass\nword"), "behindproxy_proxy.password has a line break"),
    (dict(LAB, no_proxy=".corp.example"), "behindproxy_proxy.no_proxy must be a list"),
    (dict(LAB, no_proxy=["a.example,b.example"]), "behindproxy_proxy.no_proxy[0] 'a.example,b.example' has ','"),
    (dict(LAB, no_proxy=["corp example"]), "has ' '"),
    (dict(LAB, no_proxy=["ok.example", ""]), "behindproxy_proxy.no_proxy[1] is empty"),
    (dict(LAB, no_proxy=["*"]), "behindproxy_proxy.no_proxy[0] is '*', which would bypass the proxy for everything"),
    (dict(LAB, no_proxy=["0.0.0.0/0"]), "would bypass the proxy for everything"),
    (dict(LAB, no_proxy=["10.0.0.0/33"]), "behindproxy_proxy.no_proxy[0] '10.0.0.0/33' is not a CIDR range"),
    (dict(LAB, no_proxy=["bad_label..example"]), "behindproxy_proxy.no_proxy[0] 'bad_label..example' is not usable"),
    (dict(LAB, no_proxy=["user@host"]), "has '@'"),
    (dict(LAB, no_proxy=[10]), "behindproxy_proxy.no_proxy[0] must be a string, got int 10"),
]


class TestBadStatements:

    @pytest.mark.parametrize("statement, message", BAD_STATEMENTS)
    def test_names_the_key_and_what_is_expected(self, statement, message):
        with pytest.raises(ValueError) as raised:
            proxy_plan(statement)
        assert message in str(raised.value)

    @pytest.mark.parametrize("statement", [statement for statement, _message in BAD_STATEMENTS
                                           if isinstance(statement, dict) and isinstance(statement.get("password"), str)])
    def test_never_shows_the_password(self, statement):
        # The statement's own password where it is the fault (a line break), else one of its own.
        password = statement["password"] if "\n" in statement["password"] else PASSWORD.replace("\n", "")
        with pytest.raises(ValueError) as raised:
            proxy_plan(dict(statement, password=password + "-never-shown"))
        assert "never-shown" not in str(raised.value) and "S3cret" not in str(raised.value)
        assert "pass\\nword" not in str(raised.value)

    def test_a_missing_auth_means_ntlm(self):
        assert check_statement({k: v for k, v in LAB.items() if k != "auth"})["auth"] == "ntlm"


class TestCntlmConfigProblems:

    def test_well_formed_values_pass(self):
        assert cntlm_config_problems({
            "cntlm_username": "runner", "cntlm_upstream_proxies": ["corp-proxy:3128"],
            "cntlm_extra_options": {"ConnectTimeout": 10, "Header": ["X-A: 1", "X-B: 2"]},
            "cntlm_password": "a#b", "cntlm_gateway": False, "cntlm_workstation": None}) == []

    def test_a_line_break_anywhere_is_named(self):
        assert cntlm_config_problems({
            "cntlm_upstream_proxies": ["ok:1", "p:1\nListen 0.0.0.0:3128"],
            "cntlm_extra_options": {"Header": ["X: 1\r\n"], "Bad\nKey": "v"}}) == [
            "cntlm_upstream_proxies[1] 'p:1\\nListen 0.0.0.0:3128' has a line break: cntlm.conf holds one setting per "
            "line, so the rest would be read as another setting; expected a value on one line",
            "cntlm_extra_options.Header[0] 'X: 1\\r\\n' has a line break: cntlm.conf holds one setting per line, so "
            "the rest would be read as another setting; expected a value on one line",
            "cntlm_extra_options key 'Bad\\nKey' has a line break: cntlm.conf holds one setting per line, so the rest "
            "would be read as another setting; expected a value on one line",
        ]

    def test_a_hash_sign_is_named_because_cntlm_cuts_there(self):
        assert cntlm_config_problems({"cntlm_no_proxy": ["intra#net"]}) == [
            "cntlm_no_proxy[0] 'intra#net' has a '#': cntlm's parser cuts every line at '#', so it would read only "
            "what comes before it; expected a value without '#'"]

    def test_a_plaintext_password_may_hold_no_hash_sign_and_is_never_shown(self):
        problems = cntlm_config_problems({"cntlm_password": "S3cret#tail"}, plaintext_password=True)
        assert problems == ["cntlm_password has a '#': cntlm's parser cuts every line at '#', so it would read only "
                            "what comes before it; expected a value without '#'"]
        assert cntlm_config_problems({"cntlm_password": "S3cret\nx"}, plaintext_password=True) == [
            "cntlm_password has a line break: cntlm.conf holds one setting per line, so the rest would be read as "
            "another setting; expected a value on one line"]

    def test_a_hash_is_written_as_it_is_and_never_shown(self):
        assert cntlm_config_problems({"cntlm_pass_nt": "S3cretHash#"}) == [
            "cntlm_pass_nt has a '#': cntlm's parser cuts every line at '#', so it would read only what comes before "
            "it; expected a value without '#'"]

    def test_a_hashed_password_may_hold_a_hash_sign_but_no_line_break(self):
        assert cntlm_config_problems({"cntlm_password": "S3cret#tail"}) == []
        assert cntlm_config_problems({"cntlm_password": "S3cret\ntail"}) == [
            "cntlm_password has a line break; expected a password on one line"]

    @settings(max_examples=200, deadline=None)
    @given(password=st.text(min_size=1, max_size=20), plaintext=st.booleans())
    def test_no_message_shows_the_password(self, password, plaintext):
        secret = "Zq" + password + "Zq"
        for problem in cntlm_config_problems({"cntlm_password": secret}, plaintext_password=plaintext):
            assert secret not in problem

    def test_anything_but_a_mapping_is_refused(self):
        with pytest.raises(ValueError, match="takes a mapping of variable names to values, got list"):
            cntlm_config_problems(["x"])
