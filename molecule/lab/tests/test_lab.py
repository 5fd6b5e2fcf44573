# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab behaves like a corporate network: the authenticating proxy is the only way out."""

import hashlib
import json
import time
import urllib.parse
import urllib.request

import labtest
import proxylog

LAB = labtest.lab_env()
TEST_FILE = LAB["files"]["test_file_url"]
DROPIN = "/etc/systemd/system/gitlab-runner.service.d/http-proxy.conf"


def status_through_proxy(host, proxy_args):
    result = host.run(f"curl -sS -o /dev/null -w '%{{http_code}}' --max-time 15 {proxy_args} {TEST_FILE}")
    return result.stdout.strip()


def test_corp_host_has_no_direct_route_out(host):
    internet = labtest.container_address(LAB["containers"]["internet"], LAB["networks"]["wan"])
    test_file = urllib.parse.urlsplit(TEST_FILE)
    # The file is there: the controller, on the wan network, gets it at the
    # internet's address, and the corp host gets it by name through the proxy.
    direct = urllib.request.Request(f"http://{internet}{test_file.path}", headers={"Host": test_file.netloc})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(direct, timeout=10) as response:
        assert hashlib.sha256(response.read()).hexdigest() == LAB["files"]["test_file_sha256"]
    proxied = host.run(f"curl -sS --max-time 15 -x {labtest.basic_proxy_url()} {TEST_FILE}")
    assert proxied.rc == 0, proxied.stderr
    assert hashlib.sha256(proxied.stdout.encode()).hexdigest() == LAB["files"]["test_file_sha256"]
    # Without the proxy, the corp host gets it neither by name nor by address:
    # no route leads to the internet's address, or the corp network's gateway
    # (a Docker internal network's) drops what it is sent.
    by_name = host.run(f"curl -sS -o /dev/null --max-time 5 {TEST_FILE}")
    assert by_name.rc != 0, "the corp host fetched the file by name without the proxy"
    assert labtest.connection_outcome(host, internet, 80) in ("ENETUNREACH", "EHOSTUNREACH", "timeout")


def test_proxy_without_credentials_answers_407(host):
    assert status_through_proxy(host, f"-x {LAB['proxy']['url']}") == "407"


def test_proxy_with_a_wrong_password_answers_407(host):
    assert status_through_proxy(host, f"-x {labtest.basic_proxy_url('not-the-password')}") == "407"


def test_basic_credentials_pass_and_the_log_names_the_user(host):
    mark = proxylog.mark()
    body = host.run(f"curl -sS --max-time 15 -x {labtest.basic_proxy_url()} {TEST_FILE}")
    assert body.rc == 0, body.stderr
    assert hashlib.sha256(body.stdout.encode()).hexdigest() == LAB["files"]["test_file_sha256"]
    entries = proxylog.wait_for(lambda entry: entry.status == 200 and entry.url == TEST_FILE, since=mark)
    assert {entry.user for entry in entries} == {LAB["basic"]["user"]}


def test_ntlm_credentials_pass_and_the_log_names_a_user(host):
    # squid 5.7's ntlm_fake_auth mangles the names curl sends (it logs
    # "LABr\\runnerw"); cntlm's Auth NT is logged exactly: see the cntlm scenario.
    mark = proxylog.mark()
    user = f"{LAB['ntlm']['domain']}\\{LAB['ntlm']['user']}:{LAB['ntlm']['password']}"
    assert status_through_proxy(host, f"-x {LAB['proxy']['url']} --proxy-ntlm -U '{user}'") == "200"
    entries = proxylog.wait_for(lambda entry: entry.status == 200 and entry.url == TEST_FILE, since=mark)
    assert all(entry.user and "\\" in entry.user for entry in entries)


def test_upstream_registry_answers_from_wan():
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            LAB["registry"]["controller_url"] + "/v2/_catalog", timeout=10) as response:
        catalog = json.load(response)
    assert "library/busybox" in catalog["repositories"]


def test_the_real_runner_came_from_the_signed_lab_repository(host):
    version = host.run("gitlab-runner --version")
    assert version.rc == 0
    assert "Version:      19.4.0" in version.stdout, version.stdout
    assert "TEST DOUBLE" not in version.stdout + version.stderr
    policy = host.check_output("apt-cache policy gitlab-runner gitlab-runner-helper-images")
    assert policy.count("packages.lab.test") >= 2, policy
    assert host.file("/usr/lib/gitlab-runner/helper-images/prebuilt-alpine-x86_64.tar.xz").is_file
    assert host.file("/usr/share/keyrings/gitlab-runner-lab.asc").is_file


def test_a_queued_job_runs_through_the_proxy(host):
    gitlab = labtest.gitlab()
    job = gitlab.queue_job(["echo job ran on $(hostname)", "cat README* | head -n 3"], repo_url=LAB["git"]["url"])
    result = gitlab.wait_for_job_result(job, timeout=120)
    assert result["status"] == "success", result.get("trace")
    assert "job ran on" in result["trace"]


def test_without_the_dropin_the_runner_cannot_reach_gitlab(host):
    saved = host.file(DROPIN).content_string
    gitlab = labtest.gitlab()
    try:
        host.run_expect([0], f"rm {DROPIN} && systemctl daemon-reload && systemctl restart gitlab-runner")
        job = gitlab.queue_job(["echo should not run"])
        time.sleep(20)
        assert gitlab.job_result(job)["status"] == "pending"
    finally:
        host.run_expect([0], f"cat > {DROPIN} <<'EOF'\n{saved}EOF\nchmod 0600 {DROPIN}")
        host.run_expect([0], "systemctl daemon-reload && systemctl restart gitlab-runner")
    # Back with its drop-in, the runner picks the waiting job up.
    assert gitlab.wait_for_job_result(job, timeout=120)["status"] == "success"
