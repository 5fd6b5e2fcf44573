# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The doctor on a corp host converged by site.yml: it passes, then names each broken hop and no other.

One hop is broken at a time and restored in a `finally`: cntlm stopped, a
refused account and a wrong hash in cntlm.conf, the runner service's proxy drop-in
removed, the job environment removed from config.toml, the mirror stopped,
`docker:2375` dropped from a dind runner's NO_PROXY. Each time the doctor
must exit non-zero naming exactly that hop. The doctor is read-only: it runs
here with --check too, and leaves config.toml, cntlm.conf and the drop-ins
byte for byte as they were.
"""

import json
import re
import shlex
import time

import labtest
import proxylog

LAB = labtest.lab_env()
CONFIG = "/etc/gitlab-runner/config.toml"
CNTLM_CONF = "/etc/cntlm.conf"
RUNNER_DROPIN = "/etc/systemd/system/gitlab-runner.service.d/http-proxy.conf"
DOCTOR = "../../doctor.yml"
# What the lab's corp host reaches through the proxy, instead of the
# internet's names the doctor uses by default.
LAB_VARIABLES = {
    "behindproxy_doctor_probe_url": LAB["files"]["test_file_url"],
    "behindproxy_doctor_registry_image": LAB["registry"]["image"],
    "behindproxy_doctor_git_url": LAB["git"]["url"],
}
HELPER_IMAGE = "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v19.4.0"
HELPER_TARBALL = "/usr/lib/gitlab-runner/helper-images/prebuilt-alpine-x86_64.tar.xz"
# ansible-core 2.19 prints a failed task's message on stderr ([ERROR]) and in the result on
# stdout, quoted: the hops end at a quote or the line's end.
FAILED_HOPS = re.compile(r"doctor: failed hops: (?P<hops>[^\"'\n]*)")
WATCHED_FILES = (CONFIG, CNTLM_CONF, RUNNER_DROPIN, "/etc/systemd/system/docker.service.d/http-proxy.conf",
                 "/etc/docker/daemon.json")


def run_doctor(check=False):
    """Run the doctor: (its exit status, the hops it names as failed, its whole output)."""
    run = labtest.run_playbook(DOCTOR, extra_vars=LAB_VARIABLES, check=check)
    found = FAILED_HOPS.search(run.stdout + run.stderr)
    hops = [hop.strip() for hop in found.group("hops").split(" | ")] if found else []
    return run.returncode, hops, run.stdout + run.stderr


def assert_fails_naming(expected):
    returncode, hops, output = run_doctor()
    assert returncode != 0, output[-4000:]
    assert hops == expected, output[-6000:]


def checksums(host):
    return host.check_output("sha256sum %s 2>&1 || true" % " ".join(shlex.quote(path) for path in WATCHED_FILES))


def runner_names(host):
    script = "import json, sys, tomllib; print(json.dumps([r['name'] for r in tomllib.load(open(sys.argv[1], 'rb'))" \
             ".get('runners', [])]))"
    return json.loads(host.check_output(f"python3 -c {shlex.quote(script)} {CONFIG}"))


def dind_runner(host):
    """The first runner whose entry has a dind service (the scenario's dind-service)."""
    script = ("import json, sys, tomllib\n"
              "for r in tomllib.load(open(sys.argv[1], 'rb')).get('runners', []):\n"
              "    if any('dind' in s.get('name', '') for s in r.get('docker', {}).get('services', [])):\n"
              "        print(json.dumps({'name': r['name'], 'environment': r.get('environment', [])})); break\n")
    return json.loads(host.check_output(f"python3 -c {shlex.quote(script)} {CONFIG}"))


def ensure_helper_image(host):
    """The runner's helper image in dockerd, as the runner imports it from its package before its first job.

    The doctor runs git in it; on a host where no job ran yet it reports
    the git hop as skipped instead.
    """
    if not host.run("docker image inspect %s" % HELPER_IMAGE).succeeded:
        host.check_output("docker import %s %s" % (HELPER_TARBALL, HELPER_IMAGE))


def test_the_doctor_passes_on_a_converged_host_and_changes_nothing(host):
    ensure_helper_image(host)
    before = checksums(host)
    returncode, hops, output = run_doctor()
    assert returncode == 0 and hops == [], output[-6000:]
    for hop in ("config.toml", "cntlm", "cntlm -> upstream", "dockerd -> registry", "registry mirror",
                "runner service -> GitLab"):
        assert re.search(r"\| %s +\| .*\| ok" % re.escape(hop), output), (hop, output[-6000:])
    assert re.search(r"\| git in a job: \S+ +\| .*\| ok", output), output[-6000:]
    assert "FAILED" not in output
    checked = run_doctor(check=True)
    assert checked[0] == 0, checked[2][-4000:]
    assert checksums(host) == before


def test_cntlm_stopped_is_named_and_nothing_behind_it(host):
    host.check_output("systemctl stop cntlm")
    try:
        assert_fails_naming(["cntlm"])
    finally:
        host.check_output("systemctl start cntlm")


def test_refused_credentials_are_named_after_one_request_with_them(host):
    """cntlm.conf gets the account corp-proxy refuses and a wrong PassNT: the doctor must name the
    upstream hop and ask the proxy only once.

    The lab's squid accepts every NTLM hash (ntlm_fake_auth), so a wrong
    password alone would pass; it refuses one account (LAB\\locked, docs/lab.md)
    with 407, as a corporate proxy refuses a wrong password. corp-proxy logs
    a request through cntlm as one 407 (the NTLM challenge) and one answer:
    more lines than that for the probe's URL would mean the refused
    credentials were sent again.
    """
    original = host.check_output(f"base64 -w0 {CNTLM_CONF}")
    refused = LAB["ntlm"]["refused_user"]
    host.check_output(f"sed -i -E -e 's/^(Username)[[:space:]]+.*/\\1 {refused}/' "
                      f"-e 's/^(Pass(NT|LM|NTLMv2))[[:space:]]+.*/\\1 00112233445566778899AABBCCDDEEFF/' "
                      f"{CNTLM_CONF} && systemctl restart cntlm")
    try:
        mark = proxylog.mark()
        assert_fails_naming(["cntlm -> upstream"])
        probe = LAB_VARIABLES["behindproxy_doctor_probe_url"]
        asked = [entry for entry in proxylog.entries_since(mark) if entry.url == probe]
        assert 1 <= len(asked) <= 2 and {entry.status for entry in asked} == {407}, asked
        assert [entry for entry in proxylog.entries_since(mark) if entry.url != probe and entry.status != 407] == []
    finally:
        host.check_output(f"echo {original} | base64 -d > {CNTLM_CONF} && chmod 0600 {CNTLM_CONF} "
                          "&& systemctl restart cntlm")


def test_the_runner_s_drop_in_removed_is_named(host):
    original = host.check_output(f"base64 -w0 {RUNNER_DROPIN}")
    host.check_output(f"rm {RUNNER_DROPIN} && systemctl daemon-reload")
    try:
        assert_fails_naming(["runner service -> GitLab"])
    finally:
        host.check_output(f"echo {original} | base64 -d > {RUNNER_DROPIN} && systemctl daemon-reload")


def test_the_job_environment_removed_is_named(host):
    name = runner_names(host)[0]
    original = host.check_output(f"base64 -w0 {CONFIG}")
    script = ("import sys, tomlkit\n"
              "document = tomlkit.parse(open(sys.argv[1]).read())\n"
              "for runner in document['runners']:\n"
              "    if runner['name'] == sys.argv[2]:\n"
              "        del runner['environment']\n"
              "open(sys.argv[1], 'w').write(tomlkit.dumps(document))\n")
    host.check_output(f"python3 -c {shlex.quote(script)} {CONFIG} {shlex.quote(name)}")
    try:
        assert_fails_naming([f"job environment: {name}"])
    finally:
        host.check_output(f"echo {original} | base64 -d > {CONFIG}")
        time.sleep(4)  # the runner rereads config.toml every 3 s


def mirror_stop_start(host):
    """The commands that stop and start the mirror, whichever way the role runs it."""
    if host.service("docker-registry").is_running:
        return "systemctl stop docker-registry", "systemctl start docker-registry"
    return "docker stop registry-mirror", "docker start registry-mirror"


def test_the_mirror_stopped_is_named(host):
    stop, start = mirror_stop_start(host)
    host.check_output(stop)
    try:
        assert_fails_naming(["registry mirror"])
    finally:
        host.check_output(start)


def test_docker_2375_dropped_from_a_dind_runner_s_no_proxy_is_named(host):
    runner = dind_runner(host)
    environment = dict(item.split("=", 1) for item in runner["environment"])
    without = ",".join(entry for entry in environment["NO_PROXY"].split(",") if entry != "docker:2375")
    edited = labtest.run_module(host.backend.get_hostname(), "behindproxy.gitlab_runner.runner_config", {
        "path": CONFIG, "name": runner["name"], "environment": {"NO_PROXY": without, "no_proxy": without}})
    assert edited.get("changed") is True, edited
    try:
        assert_fails_naming([f"dind NO_PROXY: {runner['name']}"])
    finally:
        restored = labtest.run_module(host.backend.get_hostname(), "behindproxy.gitlab_runner.runner_config", {
            "path": CONFIG, "name": runner["name"],
            "environment": {"NO_PROXY": environment["NO_PROXY"], "no_proxy": environment["no_proxy"]}})
        assert restored.get("changed") is True, restored
