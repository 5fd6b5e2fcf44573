# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd behind cntlm: its environment, a pull through the proxy, and live-restore."""

import json
import urllib.parse

import labtest
import proxylog

LAB = labtest.lab_env()
HOST = "behindproxy-dockerproxy-host"
# Derived from the scenario's behindproxy_proxy (auth ntlm): dockerd reaches
# cntlm on loopback, containers (root's client config) on docker0.
HOST_PROXY = "http://127.0.0.1:3128"
CONTAINER_PROXY = "http://172.17.0.1:3128"
NO_PROXY = "localhost,127.0.0.1,::1,172.17.0.1"
IMAGE = LAB["registry"]["image"]


def proxy_environment(host):
    shown = host.check_output("systemctl show --property=Environment docker")
    return sorted(item for item in shown.removeprefix("Environment=").split()
                  if item.split("=", 1)[0].lower() in ("http_proxy", "https_proxy", "no_proxy"))


def main_pid(host):
    return host.check_output("systemctl show -p MainPID --value docker")


def test_dockerd_has_exactly_the_configured_proxy_variables(host):
    assert proxy_environment(host) == sorted([
        f"HTTP_PROXY={HOST_PROXY}", f"http_proxy={HOST_PROXY}",
        f"HTTPS_PROXY={HOST_PROXY}", f"https_proxy={HOST_PROXY}",
        f"NO_PROXY={NO_PROXY}", f"no_proxy={NO_PROXY}",
    ])
    dropin = host.file("/etc/systemd/system/docker.service.d/http-proxy.conf")
    assert (dropin.user, dropin.group, dropin.mode) == ("root", "root", 0o644)


def test_daemon_json_keeps_other_keys_and_sets_live_restore(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon == {"storage-driver": "vfs", "dns": ["127.0.0.1"], "live-restore": True}


def test_client_config_has_the_proxies(host):
    client = json.loads(host.file("/root/.docker/config.json").content_string)
    assert client["proxies"]["default"] == {
        "httpProxy": CONTAINER_PROXY, "httpsProxy": CONTAINER_PROXY, "noProxy": NO_PROXY}
    assert host.file("/root/.docker/config.json").mode == 0o600


def lists_are_empty(host):
    return host.check_output("find /var/lib/apt/lists -mindepth 1 -maxdepth 1 -name '*_Packages*' | wc -l") == "0"


def test_the_package_index_is_read_only_when_a_package_cannot_be_found(host):
    # As a new host has them: no package lists, a folder touched just now.
    host.run_expect([0], "find /var/lib/apt/lists -mindepth 1 -maxdepth 1 ! -name partial ! -name lock "
                         "-exec rm -rf {} + && touch /var/lib/apt/lists")
    assert lists_are_empty(host)

    converged = labtest.run_module(HOST, "behindproxy.gitlab_runner.package_index", {"packages": ["docker.io", "cntlm"]})
    assert converged.get("failed") is not True, converged
    assert converged["refreshed"] is False and converged["changed"] is False
    assert converged["packages"]["cntlm"]["installed"]
    assert lists_are_empty(host)

    wanted = labtest.run_module(HOST, "behindproxy.gitlab_runner.package_index", {"packages": ["busybox-static"]})
    assert wanted.get("failed") is not True, wanted
    assert wanted["refreshed"] is True and wanted["changed"] is False
    assert wanted["packages"]["busybox-static"]["installed"] is None
    assert wanted["packages"]["busybox-static"]["candidate"]
    assert not lists_are_empty(host)


def test_the_engine_pulls_through_cntlm_as_the_lab_user(host):
    host.run(f"docker rmi -f {IMAGE}")
    mark = proxylog.mark()
    pulled = host.run(f"docker pull {IMAGE}")
    assert pulled.rc == 0, pulled.stderr
    # The NTLM handshake leaves 407 entries without a user; what got through
    # is a CONNECT to the registry's TLS port, as the lab's NTLM user.
    passed = proxylog.wait_for(lambda entry: entry.host == LAB["registry"]["name"] and entry.status != 407, since=mark)
    assert {entry.user for entry in passed} == {LAB["ntlm"]["logged_as"]}
    assert {entry.method for entry in passed} == {"CONNECT"}


def test_a_running_container_survives_the_restart_of_a_proxy_change(host):
    host.run("docker rm -f behindproxy-survivor")
    host.run_expect([0], f"docker run -d --name behindproxy-survivor {IMAGE} sleep 3600")
    started = host.check_output("docker inspect -f '{{.State.StartedAt}}' behindproxy-survivor")
    dockerd_before = main_pid(host)

    more_no_proxy = {"docker_proxy_no_proxy": ["localhost", "127.0.0.1", "registry.corp.example"]}
    changed = labtest.run_playbook("converge.yml", more_no_proxy, verbosity=3)
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert labtest.recap(changed.stdout)[HOST]["changed"] > 0
    assert LAB["ntlm"]["password"] not in changed.stdout + changed.stderr

    assert main_pid(host) != dockerd_before
    assert "NO_PROXY=localhost,127.0.0.1,registry.corp.example" in proxy_environment(host)
    assert host.check_output("docker inspect -f '{{.State.Running}}' behindproxy-survivor") == "true"
    assert host.check_output("docker inspect -f '{{.State.StartedAt}}' behindproxy-survivor") == started

    restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0
    host.run("docker rm -f behindproxy-survivor")


def test_a_reloadable_daemon_json_change_reloads_dockerd_without_a_restart(host):
    dockerd_before = main_pid(host)
    changed = labtest.run_playbook("converge.yml", {"docker_proxy_live_restore": False})
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert labtest.recap(changed.stdout)[HOST]["changed"] > 0
    # live-restore is one of the keys dockerd re-reads on SIGHUP: no restart.
    assert host.check_output("docker info -f '{{.LiveRestoreEnabled}}'") == "false"
    assert main_pid(host) == dockerd_before

    restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert host.check_output("docker info -f '{{.LiveRestoreEnabled}}'") == "true"
    assert main_pid(host) == dockerd_before


def test_switched_off_parts_are_left_alone_in_check_mode_and_for_real(host):
    client = "/root/.docker/config.json"
    client_before = host.file(client).sha256sum
    switches = {"docker_proxy_install_engine": False, "docker_proxy_client_config": False,
                "docker_proxy_no_proxy": ["localhost", "127.0.0.1", "registry.corp.example"]}

    checked = labtest.run_playbook("converge.yml", switches, check=True)
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert labtest.recap(checked.stdout)[HOST]["changed"] > 0
    assert f"NO_PROXY={NO_PROXY}" in proxy_environment(host)

    changed = labtest.run_playbook("converge.yml", switches)
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert "NO_PROXY=localhost,127.0.0.1,registry.corp.example" in proxy_environment(host)
    assert host.file(client).sha256sum == client_before

    restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert f"NO_PROXY={NO_PROXY}" in proxy_environment(host)


def test_verification_alone_by_tag_passes_and_fails_when_cntlm_is_stopped(host):
    tags = "cntlm_verify,docker_proxy_verify"
    verified = labtest.run_playbook("converge.yml", tags=tags)
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert labtest.recap(verified.stdout)[HOST]["changed"] == 0

    host.run_expect([0], "systemctl stop cntlm")
    try:
        broken = labtest.run_playbook("converge.yml", tags=tags)
        assert broken.returncode != 0
        assert "cntlm is not running" in broken.stdout + broken.stderr
    finally:
        host.run_expect([0], "systemctl start cntlm")


def test_credentials_in_a_proxy_url_stay_out_of_output_and_world_readable_files(host):
    secret = "Url-Secret-93q"
    with_credentials = f"http://svc-docker:{secret}@172.17.0.1:3128"
    dropin = "/etc/systemd/system/docker.service.d/http-proxy.conf"
    changed = labtest.run_playbook("converge.yml", {"docker_proxy_http": with_credentials,
                                                    "docker_proxy_https": with_credentials},
                                   verbosity=3, diff=True)
    try:
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert labtest.recap(changed.stdout)[HOST]["changed"] > 0
        assert secret not in changed.stdout + changed.stderr
        assert "docker_proxy_http carries credentials" in changed.stdout
        assert host.file(dropin).mode == 0o600
        assert f"HTTP_PROXY={with_credentials}" in proxy_environment(host)
    finally:
        restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert host.file(dropin).mode == 0o644


def test_a_basic_statement_gives_dockerd_the_encoded_url_and_it_pulls_as_that_user(host):
    # auth basic: no cntlm; dockerd (Go's url.Parse) reads the percent-encoded
    # user info of the derived URL and authenticates to corp-proxy itself.
    basic = {"upstreams": [f"{LAB['proxy']['host']}:{LAB['proxy']['port']}"], "auth": "basic",
             "username": LAB["basic"]["user"], "password": LAB["basic"]["password"]}
    dropin = "/etc/systemd/system/docker.service.d/http-proxy.conf"
    changed = labtest.run_playbook("converge.yml", {"behindproxy_proxy": basic}, verbosity=3, diff=True)
    try:
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert LAB["basic"]["password"] not in changed.stdout + changed.stderr
        assert (host.file(dropin).user, host.file(dropin).mode) == ("root", 0o600)
        expected = f"http://{LAB['basic']['user']}:{urllib.parse.quote(LAB['basic']['password'], safe='')}@" \
                   f"{LAB['proxy']['host']}:{LAB['proxy']['port']}"
        assert f"HTTP_PROXY={expected}" in proxy_environment(host)

        host.run(f"docker rmi -f {IMAGE}")
        mark = proxylog.mark()
        pulled = host.run(f"docker pull {IMAGE}")
        assert pulled.rc == 0, pulled.stderr
        passed = proxylog.wait_for(lambda entry: entry.host == LAB["registry"]["name"] and entry.status != 407,
                                   since=mark)
        assert {entry.user for entry in passed} == {LAB["basic"]["user"]}
    finally:
        restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert host.file(dropin).mode == 0o644
    assert f"HTTP_PROXY={HOST_PROXY}" in proxy_environment(host)


def test_converge_output_at_vvv_holds_no_password():
    output = labtest.run_playbook("converge.yml", verbosity=3)
    assert output.returncode == 0
    assert labtest.recap(output.stdout)[HOST]["changed"] == 0
    assert LAB["ntlm"]["password"] not in output.stdout + output.stderr
