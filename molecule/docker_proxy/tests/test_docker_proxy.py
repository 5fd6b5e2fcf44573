# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dockerd behind cntlm: its environment, a pull through the proxy, and live-restore."""

import json

import labtest
import proxylog

LAB = labtest.lab_env()
HOST = "behindproxy-dockerproxy-host"
LOCAL_PROXY = "http://172.17.0.1:3128"
IMAGE = LAB["registry"]["image"]


def proxy_environment(host):
    shown = host.check_output("systemctl show --property=Environment docker")
    return sorted(item for item in shown.removeprefix("Environment=").split()
                  if item.split("=", 1)[0].lower() in ("http_proxy", "https_proxy", "no_proxy"))


def test_dockerd_has_exactly_the_configured_proxy_variables(host):
    assert proxy_environment(host) == sorted([
        f"HTTP_PROXY={LOCAL_PROXY}", f"http_proxy={LOCAL_PROXY}",
        f"HTTPS_PROXY={LOCAL_PROXY}", f"https_proxy={LOCAL_PROXY}",
        "NO_PROXY=localhost,127.0.0.1", "no_proxy=localhost,127.0.0.1",
    ])


def test_daemon_json_keeps_other_keys_and_sets_live_restore(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon == {"storage-driver": "vfs", "live-restore": True}


def test_client_config_has_the_proxies(host):
    client = json.loads(host.file("/root/.docker/config.json").content_string)
    assert client["proxies"]["default"] == {
        "httpProxy": LOCAL_PROXY, "httpsProxy": LOCAL_PROXY, "noProxy": "localhost,127.0.0.1"}
    assert host.file("/root/.docker/config.json").mode == 0o600


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
    dockerd_before = host.check_output("systemctl show -p MainPID --value docker")

    more_no_proxy = {"docker_proxy_no_proxy": ["localhost", "127.0.0.1", "registry.corp.example"]}
    changed = labtest.run_playbook("converge.yml", more_no_proxy, verbosity=3)
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert labtest.recap(changed.stdout)[HOST]["changed"] > 0
    assert LAB["ntlm"]["password"] not in changed.stdout + changed.stderr

    assert host.check_output("systemctl show -p MainPID --value docker") != dockerd_before
    assert "NO_PROXY=localhost,127.0.0.1,registry.corp.example" in proxy_environment(host)
    assert host.check_output("docker inspect -f '{{.State.Running}}' behindproxy-survivor") == "true"
    assert host.check_output("docker inspect -f '{{.State.StartedAt}}' behindproxy-survivor") == started

    restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0
    host.run("docker rm -f behindproxy-survivor")


def test_converge_output_at_vvv_holds_no_password():
    output = labtest.run_playbook("converge.yml", verbosity=3)
    assert output.returncode == 0
    assert labtest.recap(output.stdout)[HOST]["changed"] == 0
    assert LAB["ntlm"]["password"] not in output.stdout + output.stderr
