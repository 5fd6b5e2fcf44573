# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker-in-Docker jobs behind cntlm: pulls through the mirror, builds through the proxy, pushes past it.

The runner on the host is the real gitlab-runner 19.4.0, built from its Go
module (tests/lab/runner); the dind daemons are the lab's docker:dind image (Debian's
docker.io). What is checked is what the jobs did and what crossed the proxy,
seen in corp-proxy's log, the mirror's catalog and the push registry's.
"""

import json
import os
import subprocess
import time
import urllib.request

import labtest
import proxylog

LAB = labtest.lab_env()
HOST = "behindproxy-default-host"
CONFIG = "/etc/gitlab-runner/config.toml"
MIRROR = "http://172.17.0.1:5000"
NTLM_USER = LAB["ntlm"]["logged_as"]
FILE_URL = LAB["files"]["test_file_url"]
FILE_SHA256 = LAB["files"]["test_file_sha256"]
PUSH = LAB["registry"]["push"]["name"]
DIND_ENTRIES = ["docker", "docker:2375", "docker:2376"]
UPSTREAM = LAB["registry"]["account"]["name"]


def config(host):
    script = "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb')), default=str))"
    return {runner["name"]: runner for runner in json.loads(host.check_output(f"python3 -c \"{script}\" {CONFIG}"))
            .get("runners", [])}


def environment_of(entry):
    return dict(item.split("=", 1) for item in entry.get("environment", []))


def run_job(script, tag, timeout=300):
    gitlab = labtest.gitlab()
    job = gitlab.queue_job(script, tags=[tag])
    return gitlab.wait_for_job_result(job, timeout=timeout)


def build_script(tag_name):
    """Build an image whose RUN fetches the lab's file (through the proxy the job's client config passes on)."""
    return [f"printf 'FROM docker:cli\\nRUN curl -fsS {FILE_URL} | sha256sum\\n' > Dockerfile",
            f"docker build -t {PUSH}/lab/{tag_name} ."]


def catalog(url):
    with urllib.request.urlopen(url + "/v2/_catalog", timeout=10) as answer:
        return json.load(answer)["repositories"]


def users(entries):
    return {entry.user for entry in entries}


def test_each_dind_runner_entry_has_what_dind_needs_beside_the_user_s_own(host):
    entries = config(host)
    service, shared = entries["dind-service"], entries["dind-shared"]
    for entry in (service, shared):
        environment = environment_of(entry)
        assert environment["NO_PROXY"] == environment["no_proxy"] == ",".join(
            ["localhost", "127.0.0.1", "::1", "172.17.0.1"] + DIND_ENTRIES)
        assert entry["pre_build_script"].count(".docker") >= 1 and "HTTPS_PROXY" in entry["pre_build_script"]
    environment = environment_of(service)
    assert environment["DOCKER_HOST"] == "tcp://docker:2376" and environment["DOCKER_TLS_CERTDIR"] == "/certs"
    assert service["docker"]["privileged"] is True
    assert service["docker"]["volumes"] == ["/etc/docker/certs.d:/etc/docker/certs.d:ro", "/certs/client"]
    [dind] = service["docker"]["services"]
    assert dind["alias"] == "docker" and dind["name"] == "docker:dind"
    assert f"--registry-mirror={MIRROR}" in dind["command"] and "--bip=172.31.0.1/24" in dind["command"]
    assert shared["docker"]["host"] == "unix:///run/gitlab-dind/docker.sock"
    assert "/var/run/docker.sock:/var/run/docker.sock" in shared["docker"]["volumes"]
    client = json.loads(host.file("/root/.docker/config.json").content_string)
    assert client["proxies"]["default"]["noProxy"].split(",")[-3:] == DIND_ENTRIES


def test_a_job_pulls_through_the_mirror_builds_through_cntlm_and_pushes_past_the_proxy(host):
    mark = proxylog.mark()
    result = run_job(["docker pull busybox"] + build_script("built:service") + [f"docker push {PUSH}/lab/built:service"],
                     "dind-service")
    assert result["status"] == "success", result.get("trace", "")[-4000:]
    assert FILE_SHA256 in result["trace"]
    # The mirror fetched from its upstream as the NTLM user, and holds busybox
    # (its CONNECT is logged when the mirror closes the tunnel).
    upstream = proxylog.wait_for(lambda entry: entry.host == UPSTREAM and entry.status != 407, since=mark,
                                 timeout=proxylog.TUNNEL_LINE_WAIT)
    assert users(upstream) == {NTLM_USER}
    assert "library/busybox" in json.loads(host.check_output(f"curl -fsS {MIRROR}/v2/_catalog"))["repositories"]
    # RUN's fetch went through cntlm (the job's client config passed the proxy on).
    fetched = proxylog.wait_for(lambda entry: entry.host == "files.lab.test" and entry.status == 200, since=mark)
    assert users(fetched) == {NTLM_USER}
    # dind pushed through cntlm, and the job's client reached dind directly.
    assert "lab/built" in catalog(LAB["registry"]["push"]["controller_url"])
    assert [entry for entry in proxylog.entries_since(mark) if entry.host == "docker"] == []


def test_without_the_dind_entries_in_no_proxy_the_job_fails_and_a_converge_repairs_it(host):
    entry = config(host)["dind-service"]
    environment = environment_of(entry)
    without = ",".join(name for name in environment["NO_PROXY"].split(",") if name not in DIND_ENTRIES)
    edited = labtest.run_module(HOST, "behindproxy.gitlab_runner.runner_config", {
        "path": CONFIG, "name": "dind-service", "environment": {"NO_PROXY": without, "no_proxy": without}})
    assert edited.get("changed") is True, edited
    time.sleep(4)  # the runner rereads config.toml every 3 s
    mark = proxylog.mark()
    result = run_job(["docker version"], "dind-service")
    assert result["status"] == "failed"
    # The job's client sent its requests for the dind daemon to the proxy.
    assert [entry for entry in proxylog.entries_since(mark) if entry.host == "docker"], result.get("trace", "")[-3000:]

    # The gitlab_runner role writes the entries (with what the dind_proxy
    # role decides under every tag): a converge of it alone repairs them.
    repaired = labtest.run_playbook("converge.yml", tags="gitlab_runner")
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    assert labtest.recap(repaired.stdout)[HOST]["changed"] == 1
    time.sleep(4)
    again = run_job(["docker version"], "dind-service")
    assert again["status"] == "success", again.get("trace", "")[-3000:]


def test_the_shared_daemon_keeps_its_layer_cache_and_both_jobs_reach_cntlm(host):
    traces = []
    for number in (1, 2):
        mark = proxylog.mark()
        result = run_job([f"curl -fsS {FILE_URL} | sha256sum"] + build_script("built:shared"), "dind-shared")
        assert result["status"] == "success", result.get("trace", "")[-4000:]
        fetched = proxylog.wait_for(lambda entry: entry.host == "files.lab.test" and entry.status == 200, since=mark)
        assert users(fetched) == {NTLM_USER}, number
        traces.append(result["trace"])
    assert "Using cache" not in traces[0] and "Using cache" in traces[1]
    # The jobs ran on the shared daemon, not on the host's.
    assert "lab/built" in host.check_output(
        "docker --host unix:///run/gitlab-dind/docker.sock image ls --format '{{.Repository}}'")


def test_a_container_started_before_the_roles_still_runs(host):
    state = json.loads(host.check_output("docker inspect --format '{{json .State}}' lab-before-roles"))
    assert state["Running"] is True and state["Restarting"] is False
    started = host.check_output("date -d %s +%%s", state["StartedAt"])
    changed = host.check_output("stat -c %Y /etc/docker/daemon.json")
    assert int(started) < int(changed)
    assert "registry-mirrors" in host.file("/etc/docker/daemon.json").content_string


def test_with_corp_proxy_out_of_reach_a_cached_image_still_comes_from_the_mirror(host):
    host.run("docker image rm busybox")
    with labtest.corp_proxy_cut_off(HOST):
        cached = host.run("docker pull busybox")
        uncached = host.run("docker pull registry:2")
    assert cached.rc == 0, cached.stderr
    assert uncached.rc != 0
    assert "registry" in uncached.stderr and "Error" in uncached.stderr, uncached.stderr


def test_cntlm_and_the_mirror_refuse_another_corp_host(host):
    address = host.interface("eth0").addresses[0]
    probe = ("import socket, sys\n"
             "for port in (3128, 5000):\n"
             "    try:\n"
             "        socket.create_connection((sys.argv[1], port), timeout=3).close(); print(port, 'open')\n"
             "    except OSError as error: print(port, 'closed', error)\n")
    completed = subprocess.run(
        ["docker", "run", "--rm", "--network", "behindproxy-lab-corp", os.environ["BEHINDPROXY_BASE_IMAGE"],
         "python3", "-c", probe, address],
        capture_output=True, text=True, check=True, timeout=120)
    assert "open" not in completed.stdout.replace("closed", ""), completed.stdout


def test_the_mirror_s_config_is_private_and_no_output_holds_its_password(host):
    config_file = host.file("/etc/docker/registry/config.yml")
    assert config_file.mode == 0o600
    password = LAB["registry"]["account"]["password"]
    run = labtest.run_playbook("converge.yml", verbosity=3, diff=True)
    assert run.returncode == 0, run.stdout[-3000:]
    assert labtest.recap(run.stdout)[HOST]["changed"] == 0
    assert password not in run.stdout + run.stderr
