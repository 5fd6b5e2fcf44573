# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a Docker-in-Docker runner's entry gets (_dind), and the filters that wrap it."""

from __future__ import annotations

import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.dind import (
    dind_daemon_arguments,
    dind_no_proxy,
    dind_runner_additions,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _dind
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_strings import docker_proxy_script

MIRROR = "http://172.17.0.1:5000"


def additions(runners, **options):
    return _dind.runner_additions(runners, "docker:dind", **options)


class TestServiceMode:

    def test_tls_service_talks_to_2376_with_the_client_certificates(self):
        entry = additions({"builds": {"mode": "service"}}, mirror=MIRROR)["builds"]
        assert entry["environment"] == {"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_CERTDIR": "/certs",
                                        "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client"}
        assert entry["volumes"] == ["/certs/client"]
        assert entry["services"] == [{
            "name": "docker:dind", "alias": "docker", "environment": ["DOCKER_TLS_CERTDIR=/certs"],
            "command": ["--registry-mirror=http://172.17.0.1:5000", "--bip=172.31.0.1/24",
                        "--default-address-pool=base=172.31.0.0/16,size=24"]}]
        assert entry["settings"] == {"docker": {"privileged": True}}

    def test_plain_service_talks_to_2375_without_certificates(self):
        entry = additions({"builds": {"tls": False}})["builds"]
        assert entry["environment"] == {"DOCKER_HOST": "tcp://docker:2375", "DOCKER_TLS_CERTDIR": ""}
        assert entry["volumes"] == []
        assert entry["services"][0]["environment"] == ["DOCKER_TLS_CERTDIR="]
        assert not any(argument.startswith("--registry-mirror") for argument in entry["services"][0]["command"])

    def test_a_runner_without_options_takes_the_defaults(self):
        assert additions({"builds": None}, tls=False)["builds"]["environment"]["DOCKER_HOST"] == "tcp://docker:2375"

    def test_no_proxy_names_the_alias_bare_and_with_both_ports(self):
        assert additions({"builds": {}}, alias="dind")["builds"]["no_proxy"] == ["dind", "dind:2375", "dind:2376"]

    def test_pre_build_script_reads_the_jobs_own_variables(self):
        entry = additions({"builds": {}})["builds"]
        assert entry["pre_build_script"] == docker_proxy_script({}, from_env=True)

    def test_daemon_args_follow_the_role_s_own(self):
        command = additions({"b": {}}, daemon_args=["--storage-driver=vfs"])["b"]["services"][0]["command"]
        assert command[-1] == "--storage-driver=vfs"


class TestSharedMode:

    def test_shared_runner_points_at_the_socket_and_mounts_the_daemon_s_socket(self):
        entry = additions({"cached": {"mode": "shared"}}, shared_socket="/run/dind/docker.sock")["cached"]
        assert entry["settings"] == {"docker": {"host": "unix:///run/dind/docker.sock"}}
        assert entry["volumes"] == ["/var/run/docker.sock:/var/run/docker.sock"]
        assert entry["services"] == [] and entry["environment"] == {}
        assert entry["no_proxy"] == ["docker", "docker:2375", "docker:2376"]

    def test_shared_daemon_listens_on_its_own_and_the_host_s_socket(self):
        arguments = _dind.shared_daemon_arguments(MIRROR, shared_socket="/run/dind/docker.sock")
        assert arguments == ["--host=unix:///var/run/docker.sock", "--host=unix:///run/dind/docker.sock",
                             "--registry-mirror=http://172.17.0.1:5000", "--bip=172.31.0.1/24",
                             "--default-address-pool=base=172.31.0.0/16,size=24"]


class TestAddressPool:

    @pytest.mark.parametrize("avoid", [{"proxy": "http://172.31.4.9:3128"}, {"proxy": "172.31.0.1"},
                                       {"proxy": "http://user:secret@172.31.0.7:3128/"}])
    def test_a_pool_that_holds_the_proxy_is_refused_naming_it(self, avoid):
        with pytest.raises(ValueError, match=r"172\.31\.0\.0/16 holds 172\.31\.\d+\.\d+, the address of proxy") as error:
            additions({"b": {}}, avoid=avoid)
        assert "secret" not in str(error.value)

    def test_a_proxy_password_with_an_at_sign_does_not_hide_the_proxy_s_address(self):
        # Go reads the user info up to the LAST "@": the proxy is 172.31.0.7.
        with pytest.raises(ValueError, match=r"holds 172\.31\.0\.7, the address of proxy") as error:
            additions({"b": {}}, avoid={"proxy": "http://svc:p@ss@172.31.0.7:3128"})
        assert "p@ss" not in str(error.value)

    @pytest.mark.parametrize("url, host", [
        ("http://svc:p@ss@proxy.corp:3128", "proxy.corp"), ("http://[fd00::1]:5000/", "fd00::1"),
        ("http://172.17.0.1:5000", "172.17.0.1"), ("no url", ""), ("http://[fd00::1", ""),
    ])
    def test_url_host_reads_the_host_as_go_does(self, url, host):
        assert _dind.url_host(url) == host

    def test_a_pool_that_holds_the_mirror_is_refused(self):
        with pytest.raises(ValueError, match="the registry mirror"):
            additions({"b": {}}, pool="172.17.0.0/16", mirror=MIRROR)

    def test_docker_s_default_pool_is_refused_when_the_proxy_is_on_docker0(self):
        with pytest.raises(ValueError, match="holds 172.17.0.1"):
            _dind.shared_daemon_arguments("", pool="172.17.0.0/16", avoid={"proxy": "http://172.17.0.1:3128"})

    def test_host_names_are_not_routed_to_the_bridge(self):
        assert additions({"b": {}}, avoid={"proxy": "http://proxy.corp:3128"})["b"]

    @pytest.mark.parametrize("pool, size, message", [
        ("172.31.0.1/16", 24, "host bits zero"), ("not-a-net", 24, "IPv4 network"),
        ("172.31.0.0/16", 8, "between 16"), ("172.31.0.0/16", 31, "and 30"), ("172.31.0.0/16", True, "prefix length"),
    ])
    def test_bad_pools_name_the_value(self, pool, size, message):
        with pytest.raises(ValueError, match=message):
            additions({"b": {}}, pool=pool, pool_size=size)

    @given(st.integers(min_value=8, max_value=24).flatmap(
        lambda prefix: st.tuples(st.just(prefix), st.integers(min_value=prefix, max_value=30),
                                 st.integers(min_value=0, max_value=2 ** 32 - 1))))
    def test_the_bridge_is_the_first_subnet_s_first_address_inside_the_pool(self, case):
        prefix, size, seed = case
        network = ipaddress.IPv4Network((seed, prefix), strict=False)
        bridge = _dind.address_pool(str(network), size)[2]
        interface = ipaddress.IPv4Interface(bridge)
        assert interface.network.prefixlen == size and interface.ip in network
        assert interface.ip == network.network_address + 1


class TestBadInput:

    @pytest.mark.parametrize("runners, message", [
        ({"b": {"mode": "sidecar"}}, "mode must be service or shared; got 'sidecar'"),
        ({"b": {"tls": "yes"}}, "tls must be a boolean; got 'yes'"),
        ({"b": {"privileged": True}}, "unknown keys privileged"),
        ({"b": "service"}, "expected a mapping"),
        (["b"], "runners must be a mapping"),
    ])
    def test_bad_runner_options_name_the_runner_and_value(self, runners, message):
        with pytest.raises(ValueError, match=message):
            additions(runners)

    @pytest.mark.parametrize("options, message", [
        ({"alias": "dock er"}, "alias must be a host name"),
        ({"daemon_args": ["rm -rf /"]}, "daemon_args must be dockerd options"),
        ({"shared_socket": "run/docker.sock"}, "shared_socket must be an absolute path"),
    ])
    def test_bad_options_name_the_value(self, options, message):
        with pytest.raises(ValueError, match=message):
            additions({"b": {}}, **options)

    def test_an_empty_image_is_refused(self):
        with pytest.raises(ValueError, match="image must be the dind image"):
            _dind.runner_additions({"b": {}}, "")


class TestFilters:

    def test_the_filters_return_what_the_functions_do(self):
        assert dind_runner_additions({"b": {}}, "docker:dind", mirror=MIRROR) == additions({"b": {}}, mirror=MIRROR)
        assert dind_daemon_arguments(MIRROR) == _dind.shared_daemon_arguments(MIRROR)

    def test_dind_no_proxy_names_the_alias_bare_and_with_both_ports(self):
        assert dind_no_proxy("dind") == ["dind", "dind:2375", "dind:2376"]
        with pytest.raises(AnsibleFilterError, match="dind_no_proxy: alias must be a host name such as docker; got 'a b'"):
            dind_no_proxy("a b")

    def test_errors_become_filter_errors_with_the_filter_s_name(self):
        with pytest.raises(AnsibleFilterError, match="dind_runner_additions: runner 'b': mode"):
            dind_runner_additions({"b": {"mode": "x"}}, "docker:dind")
        with pytest.raises(AnsibleFilterError, match="dind_daemon_arguments: address_pool"):
            dind_daemon_arguments("", pool="x")
