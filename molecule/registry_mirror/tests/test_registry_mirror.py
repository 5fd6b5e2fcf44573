# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry mirror by traffic: dockerd's Hub pulls served by it, its upstream fetches through cntlm."""

import json
import subprocess
import time

import labtest
import proxylog
import yaml

LAB = labtest.lab_env()
HOST = "behindproxy-registrymirror-host"
MIRROR = "http://172.17.0.1:5000"
# cntlm, as the statement's plan gives it to a service on the host (the
# packaged registry) and to a container (the registry in container mode).
HOST_PROXY = "http://127.0.0.1:3128"
CONTAINER_PROXY = "http://172.17.0.1:3128"
# NO_PROXY for Go programs (the registry, dockerd): loopback and docker0.
GO_NO_PROXY = "localhost,127.0.0.1,::1,172.17.0.1"
DROPIN = "/etc/systemd/system/docker-registry.service.d/http-proxy.conf"
ACCOUNT = LAB["registry"]["account"]
CONFIG = "/etc/docker/registry/config.yml"
# A Docker Hub name: dockerd sends it to its registry-mirrors, and without
# them to registry-1.docker.io, which corp-proxy does not let through.
HUB_IMAGE = "busybox:latest"
PROXY_CONTAINER = LAB["containers"]["proxy"]


def catalog(host, wanted=None):
    """The mirror's catalog; with wanted, waits up to 10 s for it to list that repository (the
    registry stores layers, and so lists a repository, in the background while serving a pull)."""
    for _attempt in range(10):
        repositories = read_catalog(host)
        if wanted is None or wanted in repositories:
            break
        time.sleep(1)
    return repositories


def read_catalog(host):
    body = host.check_output(f"python3 -c \"import urllib.request; print(urllib.request.urlopen('{MIRROR}/v2/_catalog').read().decode())\"")
    return json.loads(body)["repositories"]


def main_pid(host, unit):
    return host.check_output(f"systemctl show -p MainPID --value {unit}")


def mirrors(host):
    return json.loads(host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'"))


def probe_from_corp_proxy(address, port):
    """Exit status of a TCP connect from corp-proxy's container (0: connected)."""
    return subprocess.run(["docker", "exec", PROXY_CONTAINER, "timeout", "5", "bash", "-c",
                           f"exec 3<>/dev/tcp/{address}/{port}"], capture_output=True, check=False).returncode


def one_line(completed):
    """A playbook's output with its line wrapping undone, to look for a message."""
    return " ".join((completed.stdout + completed.stderr).split())


def wait_until_cntlm_gets_through(host, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' -x {HOST_PROXY} {LAB['files']['test_file_url']}")
        if answer.stdout == "200":
            return
        time.sleep(1)
    raise AssertionError("corp-proxy did not come back within %ds" % seconds)


def test_config_yml_is_the_registrys_alone_and_names_the_upstream_account(host):
    config = host.file(CONFIG)
    assert (config.mode, config.user, config.group) == (0o600, "docker-registry", "docker-registry")
    settings = yaml.safe_load(config.content_string)
    assert settings["proxy"] == {"remoteurl": ACCOUNT["url"], "username": ACCOUNT["user"], "password": ACCOUNT["password"]}
    # Debian 12's distribution 2.8 does not know proxy.ttl: no ttl, no deletion.
    assert "delete" not in settings["storage"]
    assert settings["http"]["addr"] == "172.17.0.1:5000"


def test_the_registry_service_has_the_proxy_derived_from_the_statement(host):
    shown = host.check_output("systemctl show --property=Environment docker-registry")
    assert sorted(shown.removeprefix("Environment=").split()) == sorted([
        f"HTTP_PROXY={HOST_PROXY}", f"http_proxy={HOST_PROXY}",
        f"HTTPS_PROXY={HOST_PROXY}", f"https_proxy={HOST_PROXY}",
        f"NO_PROXY={GO_NO_PROXY}", f"no_proxy={GO_NO_PROXY}",
    ])
    # The shared role's drop-in: no password in it, so readable by all.
    dropin = host.file(DROPIN)
    assert (dropin.mode, dropin.user) == (0o644, "root")


def test_the_mirror_listens_on_docker0_only_and_other_corp_hosts_cannot_reach_it(host):
    listening = host.check_output("ss -ltnH 'sport = :5000' | awk '{print $4}'").split()
    assert listening == ["172.17.0.1:5000"]
    corp_address = labtest.container_address(HOST, LAB["networks"]["corp"])
    # corp-proxy is another host on the corp network; the same probe of its
    # own port shows that the probe works.
    assert probe_from_corp_proxy(corp_address, 5000) != 0
    assert probe_from_corp_proxy("127.0.0.1", 3128) == 0


def test_daemon_json_has_the_mirror_and_dockerd_uses_it(host):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    # registry-mirrors is this role's key, live-restore docker_proxy's; no
    # insecure-registries: dockerd 20.10 takes an http:// mirror as it is.
    assert daemon == {"storage-driver": "vfs", "dns": ["127.0.0.1"], "live-restore": True, "registry-mirrors": [MIRROR]}
    assert [entry.rstrip("/") for entry in mirrors(host)] == [MIRROR]


def test_a_hub_pull_is_served_by_the_mirror_which_fetches_through_cntlm_as_the_ntlm_user(host):
    host.run(f"docker rmi -f {HUB_IMAGE}")
    mark = proxylog.mark()
    pulled = host.run(f"docker pull {HUB_IMAGE}")
    assert pulled.rc == 0, pulled.stderr
    assert "library/busybox" in catalog(host, "library/busybox")
    # Only the mirror talks to hub-account.lab.test (its CONNECT is logged
    # when the mirror closes the tunnel).
    passed = proxylog.wait_for(lambda entry: entry.host == ACCOUNT["name"] and entry.status != 407,
                               since=mark, timeout=proxylog.TUNNEL_LINE_WAIT)
    assert {entry.user for entry in passed} == {LAB["ntlm"]["logged_as"]}
    assert {entry.method for entry in passed} == {"CONNECT"}


def test_a_cached_image_is_pulled_with_corp_proxy_out_of_reach(host):
    host.run_expect([0], f"docker pull {HUB_IMAGE}")
    host.run_expect([0], f"docker rmi -f {HUB_IMAGE}")
    with labtest.corp_proxy_cut_off(HOST):
        pulled = host.run(f"docker pull {HUB_IMAGE}")
        uncached = host.run("docker pull alpine:latest")
    wait_until_cntlm_gets_through(host)
    assert pulled.rc == 0, pulled.stderr
    assert uncached.rc != 0


def test_a_running_container_survives_a_change_of_registry_mirrors(host):
    host.run("docker rm -f behindproxy-survivor")
    host.run_expect([0], f"docker run -d --name behindproxy-survivor {HUB_IMAGE} sleep 3600")
    started = host.check_output("docker inspect -f '{{.State.StartedAt}}' behindproxy-survivor")
    dockerd_before = main_pid(host, "docker")
    try:
        changed = labtest.run_playbook("converge.yml", {"registry_mirror_dockerd_mirrors": ["http://127.0.0.1:5999"]})
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert labtest.recap(changed.stdout)[HOST]["changed"] > 0
        assert [entry.rstrip("/") for entry in mirrors(host)] == [MIRROR, "http://127.0.0.1:5999"]
        # A reload (SIGHUP), not a restart: same dockerd, same container.
        assert main_pid(host, "docker") == dockerd_before
        assert host.check_output("docker inspect -f '{{.State.Running}}' behindproxy-survivor") == "true"
        assert host.check_output("docker inspect -f '{{.State.StartedAt}}' behindproxy-survivor") == started
    finally:
        # The user's own entries stay (union): take the lab's one out by hand.
        labtest.run_module(HOST, "behindproxy.gitlab_runner.docker_json_config",
                           {"path": "/etc/docker/daemon.json", "remove": ["registry-mirrors"]})
        restored = labtest.run_playbook("converge.yml")
        host.run("docker rm -f behindproxy-survivor")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert [entry.rstrip("/") for entry in mirrors(host)] == [MIRROR]


def test_the_upstream_password_never_shows_and_a_change_restarts_the_registry(host):
    registry_before = main_pid(host, "docker-registry")
    wrong = "lab-mirror-not-the-password"
    changed = labtest.run_playbook("converge.yml", {"registry_mirror_password": wrong}, verbosity=3, diff=True)
    try:
        assert changed.returncode == 0, changed.stdout[-3000:]
        assert labtest.recap(changed.stdout)[HOST]["changed"] > 0
        assert main_pid(host, "docker-registry") != registry_before
        assert yaml.safe_load(host.file(CONFIG).content_string)["proxy"]["password"] == wrong
    finally:
        restored = labtest.run_playbook("converge.yml", verbosity=3, diff=True)
    assert restored.returncode == 0, restored.stdout[-3000:]
    for output in (changed.stdout + changed.stderr, restored.stdout + restored.stderr):
        assert wrong not in output
        assert ACCOUNT["password"] not in output
    assert host.file(CONFIG).mode == 0o600


def test_a_ttl_is_refused_on_distribution_2_8_before_anything_changes(host):
    before = host.file(CONFIG).sha256sum
    refused = labtest.run_playbook("converge.yml", {"registry_mirror_ttl": "168h"})
    assert refused.returncode != 0
    assert "registry_mirror_ttl is '168h', but the registry is version 2.8.2" in one_line(refused)
    assert host.file(CONFIG).sha256sum == before


def test_the_role_refuses_a_dockerd_that_would_reach_the_mirror_through_its_proxy(host):
    # The roles give dockerd the mirror's address in NO_PROXY: a drop-in of
    # the lab's, read after theirs, takes it away again.
    broken = "/etc/systemd/system/docker.service.d/zz-lab-no-proxy.conf"
    host.run_expect([0], f"printf '[Service]\\nEnvironment=NO_PROXY=localhost,127.0.0.1 no_proxy=localhost,127.0.0.1\\n' > {broken}"
                         " && systemctl daemon-reload && systemctl restart docker")
    try:
        refused = labtest.run_playbook("converge.yml", tags="registry_mirror_verify")
        assert refused.returncode != 0
        assert "does not name the mirror's address 172.17.0.1" in one_line(refused)
    finally:
        host.run_expect([0], f"rm -f {broken} && systemctl daemon-reload && systemctl restart docker")
    restored = labtest.run_playbook("converge.yml", tags="registry_mirror_verify")
    assert restored.returncode == 0, restored.stdout[-3000:]


def test_verification_alone_by_tag_pulls_and_finds_the_image_and_fails_when_the_mirror_is_down(host):
    tags = "registry_mirror_verify"
    verified = labtest.run_playbook("converge.yml", {"registry_mirror_verify_image": HUB_IMAGE}, tags=tags)
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert labtest.recap(verified.stdout)[HOST]["changed"] == 0
    assert "The mirror holds library/busybox" in one_line(verified)

    host.run_expect([0], "systemctl stop docker-registry")
    try:
        broken = labtest.run_playbook("converge.yml", tags=tags)
        assert broken.returncode != 0
        assert "Check that the registry API answers on the listen address (/v2/)" in one_line(broken)
    finally:
        host.run_expect([0], "systemctl start docker-registry")


def test_container_mode_runs_the_lab_registry_image_and_serves_hub_pulls(host):
    # The package's service holds the port: container mode stops it and takes its place.
    host.run(f"docker rmi -f {HUB_IMAGE}")
    settings = {
        "registry_mirror_mode": "container",
        # Built here from Debian's docker-registry and pushed to the lab's
        # upstream registry: dockerd pulls it through cntlm, as from a
        # company's registry.
        "registry_mirror_image": LAB["registry"]["name"] + "/library/registry:2",
        "registry_mirror_storage_path": "/var/lib/registry-mirror",
        # The host's bundle holds the lab CA (prepare), which signed the upstream's certificate.
        "registry_mirror_container_volumes": ["/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro"],
        "registry_mirror_verify_image": HUB_IMAGE,
    }
    try:
        converged = labtest.run_playbook("converge.yml", settings, verbosity=3, diff=True)
        assert converged.returncode == 0, converged.stdout[-3000:]
        assert ACCOUNT["password"] not in converged.stdout + converged.stderr
        again = labtest.run_playbook("converge.yml", settings)
        assert again.returncode == 0, again.stdout[-3000:]
        assert labtest.recap(again.stdout)[HOST]["changed"] == 0

        service = host.service("docker-registry")
        assert not service.is_running and not service.is_enabled
        container = json.loads(host.check_output("docker inspect registry-mirror"))[0]
        assert container["HostConfig"]["RestartPolicy"]["Name"] == "always"
        assert container["HostConfig"]["PortBindings"] == {"5000/tcp": [{"HostIp": "172.17.0.1", "HostPort": "5000"}]}
        assert f"HTTPS_PROXY={CONTAINER_PROXY}" in container["Config"]["Env"]
        assert f"NO_PROXY={GO_NO_PROXY}" in container["Config"]["Env"]
        config = host.file("/etc/registry-mirror/config.yml")
        assert (config.mode, config.user) == (0o600, "root")
        assert yaml.safe_load(config.content_string)["http"]["addr"] == ":5000"
        # A new, empty cache: the verification's pull was fetched upstream
        # by the container and stored in the mounted storage.
        assert "library/busybox" in catalog(host, "library/busybox")
        assert host.file("/var/lib/registry-mirror/docker/registry/v2/repositories/library/busybox").is_directory
    finally:
        # Back to package mode: the container goes, the service comes back.
        back = labtest.run_playbook("converge.yml")
    assert back.returncode == 0, back.stdout[-3000:]
    assert host.run("docker ps --all --quiet --filter name=^registry-mirror$").stdout.strip() == ""
    service = host.service("docker-registry")
    assert service.is_running and service.is_enabled
