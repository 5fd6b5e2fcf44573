# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network faults on a runner host of the lab.

The host starts fresh (apt through corp-proxy, no Docker engine). The first
converges stop corp-proxy at a chosen point, each one a role further: before
anything (docker_proxy installs the engine), as cntlm starts (its package),
as the mirror is verified (its upstream), as the runner registers (GitLab),
and before a converge of a host that has everything installed (the runner's
repository key). Each must fail in that role, naming the proxy, and leave
nothing half-done; the next converge, corp-proxy back, takes the host a role
further, until one completes and the next changes nothing. Then cntlm and
dockerd are restarted under running jobs, who can connect to cntlm and to
the mirror is tried, and every secret of the run is searched for. The runner
is the real gitlab-runner 19.4.0, built from its Go module (tests/lab/runner).

Each test brings the host to the state it needs first (corp-proxy up; the
host made again, as create and prepare made it, when it is past the point a
fault needs; a converge when it needs a converged host), so that it passes
alone and in any order. In the order written here each one finds the state
the one before left, and nothing is made or converged again.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import labtest

LAB = labtest.lab_env()
HOST = "behindproxy-faults-host"
# Services on the host reach cntlm on loopback (the statement's host_proxy).
LOCAL_PROXY = "http://127.0.0.1:3128"
MIRROR = "http://172.17.0.1:5000"
CONFIG = "/etc/gitlab-runner/config.toml"
REGISTRATION_TOKEN = "GR1348941lab-registration-token"
STOP_CORP_PROXY = labtest.lab_command("proxy-stop")
# The packages of site.yml's roles, in the order it applies them.
ROLE_PACKAGES = ("docker.io", "cntlm", "docker-registry", "gitlab-runner")
SERVICES = ("docker", "cntlm", "docker-registry", "gitlab-runner")
JOB_IMAGES = ("behindproxy/job-busybox:lab", "behindproxy/job-curl:lab")
# The output of every converge, searched for secrets by the last check.
OUTPUTS = {}
# The process tables sampled during the -vvv --diff converge that changes nothing.
COMMAND_LINES = []


# The fault converges, in the tests' order: where corp-proxy stops (None:
# before the converge, else as the first task matching the pattern starts)
# and the first of ROLE_PACKAGES the host must not have yet (None: a host
# with everything installed).
FAULTS = {
    "corp-proxy down before the first converge": (None, "docker.io"),
    "corp-proxy stopped as cntlm starts": (r"^behindproxy\.gitlab_runner\.cntlm : ", "cntlm"),
    "corp-proxy stopped as the mirror is verified": (
        r"^behindproxy\.gitlab_runner\.registry_mirror : Verify the mirror$", "docker-registry"),
    "corp-proxy stopped as the runner registers": (
        r"^behindproxy\.gitlab_runner\.gitlab_runner : Register and configure the runners", "gitlab-runner"),
    "corp-proxy down on an installed host": (None, None),
}
COMPLETING = "corp-proxy back: the converge that completes"
NEXT = "the next converge"
# The fake GitLab's last request when the host was made (by Molecule before
# this module, or by make_the_host_again()): its registrations come after.
HOST_MADE_AFTER_REQUEST = {}


def converge(name, fault_at=None):
    """A converge at -vvv --diff, corp-proxy stopped as the first task matching fault_at starts."""
    environment = labtest.fault_at(fault_at, STOP_CORP_PROXY) if fault_at else None
    run = labtest.run_playbook("converge.yml", verbosity=3, diff=True, environment=environment)
    OUTPUTS[name] = run.stdout + run.stderr
    return run


def fault_converge(host, name):
    """The fault converge `name` of FAULTS, on a host brought to the state it needs; corp-proxy
    is up again when it returns."""
    fault_at, first_missing = FAULTS[name]
    if first_missing is None:
        installed_host(host)
    else:
        host_without_packages_from(host, first_missing)
    try:
        if fault_at is None:
            labtest.lab("proxy-stop")
        return converge(name, fault_at)
    finally:
        labtest.lab("proxy-start")


def converge_to_the_end(host):
    """On a host whose runner is not registered yet: the converge that completes and the next,
    at -vvv --diff, that one's process tables sampled (COMMAND_LINES)."""
    if runner_names(host):
        make_the_host_again()
    run = converge(COMPLETING)
    again, samples = labtest.run_playbook_sampling_command_lines(HOST, "converge.yml", verbosity=3, diff=True)
    OUTPUTS[NEXT] = again.stdout + again.stderr
    COMMAND_LINES[:] = samples
    return run, again


def last_request():
    log = labtest.gitlab().request_log()
    return log[-1]["seq"] if log else 0


def make_the_host_again():
    """The host removed and made again by the scenario's create and prepare playbooks: fresh."""
    labtest.recreate_host(HOST, Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml", "prepare.yml")
    HOST_MADE_AFTER_REQUEST["seq"] = last_request()


def host_without_packages_from(host, first_missing):
    """A host without the package `first_missing` nor those of the roles after it: made again
    if it has one."""
    later = ROLE_PACKAGES[ROLE_PACKAGES.index(first_missing):]
    if any(host.package(package).is_installed for package in later):
        make_the_host_again()


def mirror_catalog(host):
    """The repositories the mirror holds; none when it does not answer."""
    answer = host.run(f"curl -fsS --noproxy '*' {MIRROR}/v2/_catalog")
    return json.loads(answer.stdout)["repositories"] if answer.rc == 0 else []


def installed_host(host):
    """A host with every role's package installed and the mirror's cache holding its
    verification image: converged (corp-proxy up) if it lacks one."""
    if not (all(host.package(package).is_installed for package in ROLE_PACKAGES)
            and "library/busybox" in mirror_catalog(host)):
        converge_or_fail()


def converge_or_fail():
    """A converge that must complete, to set a test's state up (not one of the seven the sweep
    searches)."""
    run = labtest.run_playbook("converge.yml")
    assert run.returncode == 0, run.stdout[-4000:]


@pytest.fixture(scope="module", autouse=True)
def host_made_by_molecule():
    HOST_MADE_AFTER_REQUEST["seq"] = last_request()


@pytest.fixture(autouse=True)
def corp_proxy_up():
    """corp-proxy answers when a test starts and after it, whatever the test did to it."""
    labtest.lab("proxy-start")
    yield
    labtest.lab("proxy-start")


@pytest.fixture
def converged_host(host):
    """A host a converge completed on: its runner registered, every service running."""
    if not (runner_names(host) == ["lab-faults"] and all(host.service(unit).is_running for unit in SERVICES)):
        converge_or_fail()
    return host


def failure(run):
    """(the task that failed, what the user was told). The host's last TASK banner is the task
    that failed (or the rescue that says why): a failed host runs no further tasks, only the
    handlers (RUNNING HANDLER). The message is the last "[ERROR]: Task failed" line, which
    Ansible prints unwrapped on stderr."""
    assert labtest.recap(run.stdout)[HOST]["failed"] == 1, run.stdout[-3000:]
    banner = [line for line in run.stdout.splitlines() if line.startswith("TASK [")][-1]
    errors = [line for line in run.stderr.splitlines() if line.startswith("[ERROR]: Task failed: ")]
    message = errors[-1].split(": ", 3)[-1] if errors else ""
    return banner[len("TASK ["):banner.rindex("]")], message


def assert_fault_came_before(run, task_prefix):
    said = [line for line in run.stdout.splitlines() if line.startswith("lab fault: ran ")]
    assert len(said) == 1 and f"before TASK [{task_prefix}" in said[0], said or run.stdout[-3000:]


def dpkg_audit(host):
    """dpkg's list of half-installed or half-configured packages (empty when none)."""
    return host.check_output("dpkg --audit")


def service_environment(host, unit):
    shown = host.check_output(f"systemctl show --property=Environment {unit}")
    return sorted(item for item in shown.removeprefix("Environment=").split()
                  if item.split("=", 1)[0].lower().endswith("_proxy"))


PROXY_ENVIRONMENT = sorted([
    f"HTTP_PROXY={LOCAL_PROXY}", f"http_proxy={LOCAL_PROXY}", f"HTTPS_PROXY={LOCAL_PROXY}", f"https_proxy={LOCAL_PROXY}",
    "NO_PROXY=localhost,127.0.0.1,::1,172.17.0.1", "no_proxy=localhost,127.0.0.1,::1,172.17.0.1"])


def registrations(since, status=None):
    """The registrations GitLab saw after its request `since` (last_request())."""
    return [entry for entry in labtest.gitlab().request_log(since)
            if entry.get("method") == "POST" and entry.get("path") == "/api/v4/runners"
            and (status is None or entry.get("status") == status)]


def runner_names(host):
    script = "import json, sys, tomllib; print(json.dumps([r['name'] for r in tomllib.load(open(sys.argv[1], 'rb')).get('runners', [])]))"
    if not host.file(CONFIG).exists:
        return []
    return json.loads(host.check_output(f"python3 -c \"{script}\" {CONFIG}"))


def test_corp_proxy_down_before_the_first_converge_fails_docker_proxy_naming_the_proxy(host):
    run = fault_converge(host, "corp-proxy down before the first converge")
    assert run.returncode != 0
    task, message = failure(run)
    assert task == "behindproxy.gitlab_runner.docker_proxy : Make sure apt can find the engine package", task
    # apt's own words, which the module passes on: the proxy it could not reach.
    assert message.startswith("No install candidate for docker.io, even after reading the package index: "
                              "apt-get update could not read every repository"), message
    assert "Temporary failure resolving 'corp-proxy'" in message, message
    # Nothing half-done: no engine, no drop-in, dpkg clean.
    assert not host.package("docker.io").is_installed
    assert not host.file("/etc/systemd/system/docker.service.d/http-proxy.conf").exists
    assert dpkg_audit(host) == ""


def test_corp_proxy_stopped_as_cntlm_starts_fails_its_install_naming_the_proxy(host):
    run = fault_converge(host, "corp-proxy stopped as cntlm starts")
    assert run.returncode != 0
    assert_fault_came_before(run, "behindproxy.gitlab_runner.cntlm : ")
    task, message = failure(run)
    assert task == "behindproxy.gitlab_runner.cntlm : Install cntlm from the distribution", task
    assert "cntlm" in message and "Temporary failure resolving 'corp-proxy'" in message, message
    # docker_proxy, the role before, completed: the engine runs with its proxy.
    assert host.service("docker").is_running
    assert service_environment(host, "docker") == PROXY_ENVIRONMENT
    assert not host.package("cntlm").is_installed
    assert host.file("/etc/cntlm.conf").mode == 0o600
    assert dpkg_audit(host) == ""


def test_corp_proxy_stopped_as_the_mirror_is_verified_fails_naming_the_upstream_and_the_proxy(host):
    # The mirror's cache is empty: its first pull needs the upstream. With
    # an account, distribution asks the upstream how to log in when it
    # starts (the role restarts it for its drop-ins here) and exits when
    # cntlm cannot reach corp-proxy.
    run = fault_converge(host, "corp-proxy stopped as the mirror is verified")
    assert run.returncode != 0
    assert_fault_came_before(run, "behindproxy.gitlab_runner.registry_mirror : Verify the mirror")
    task, message = failure(run)
    assert task == "behindproxy.gitlab_runner.registry_mirror : Say why the registry does not answer", task
    assert message.startswith(f"The registry mirror does not answer on {MIRROR}/v2/"), message
    # cntlm's answer, as the registry logged it, and the way it went.
    assert 'Get "https://hub-account.lab.test/v2/": Parent proxy unreacheable' in message, message
    assert f"through the proxy {LOCAL_PROXY}" in message, message
    # Nothing half-done: the registry comes back by itself once corp-proxy
    # is back (systemd restarts it), before any converge.
    wait_until_the_mirror_answers(host)
    assert int(host.check_output("systemctl show -p NRestarts --value docker-registry")) >= 1
    assert host.package("docker-registry").is_installed and dpkg_audit(host) == ""


def wait_until_the_mirror_answers(host):
    deadline = time.monotonic() + 150
    while host.run(f"curl -fsS -o /dev/null --noproxy '*' {MIRROR}/v2/").rc != 0:
        assert time.monotonic() < deadline, host.check_output("systemctl status docker-registry --no-pager || true")
        time.sleep(2)


def test_corp_proxy_stopped_as_the_runner_registers_fails_naming_the_proxy_and_creates_nothing(host):
    since = last_request()
    run = fault_converge(host, "corp-proxy stopped as the runner registers")
    assert run.returncode != 0
    assert_fault_came_before(run, "behindproxy.gitlab_runner.gitlab_runner : Register and configure the runners")
    task, message = failure(run)
    # The role registers all of a host's runners in one task; the message names the runner.
    assert task == "behindproxy.gitlab_runner.gitlab_runner : Say why registration failed", task
    assert message.startswith("runner 'lab-faults' at "), message
    assert f"POST /api/v4/runners: no answer from http://gitlab.lab.test (through proxy {LOCAL_PROXY})" in message, message
    # Nothing half-done: no runner in config.toml or in GitLab, and the
    # restart notified before the failure happened all the same: the
    # service runs with its proxy (site.yml's force_handlers).
    assert runner_names(host) == []
    assert registrations(since) == []
    assert host.service("gitlab-runner").is_running
    assert service_environment(host, "gitlab-runner") == PROXY_ENVIRONMENT
    assert dpkg_audit(host) == ""


def test_corp_proxy_down_on_an_installed_host_fails_only_the_runners_key_naming_the_proxy(host):
    since = last_request()
    run = fault_converge(host, "corp-proxy down on an installed host")
    assert run.returncode != 0
    task, message = failure(run)
    # docker_proxy, cntlm and the mirror need nothing from the network now
    # (the mirror's verification pull comes from its cache); the runner's
    # role fetches its repository key on every run, through cntlm.
    assert task == "behindproxy.gitlab_runner.gitlab_runner : Install the repository's signing key, if the inventory accepts it", task
    assert message == (f"cannot download the key from http://packages.lab.test/gpg.key through {LOCAL_PROXY}: "
                       "HTTP 502 Parent proxy unreacheable"), message
    assert registrations(since) == []


def test_with_corp_proxy_back_a_converge_completes_and_the_next_changes_nothing(host):
    # On the host the faults left (or a fresh one): its runner not registered yet.
    run, again = converge_to_the_end(host)
    assert run.returncode == 0, run.stdout[-4000:]
    assert labtest.recap(run.stdout)[HOST]["changed"] >= 1
    # Then nothing left to do: a converge at -vvv --diff (its process
    # tables sampled for the sweep) changes nothing.
    assert again.returncode == 0, again.stdout[-4000:]
    assert labtest.recap(again.stdout)[HOST]["changed"] == 0

    # Nothing half-done anywhere: every service up with its proxy, one
    # runner in config.toml and one created in GitLab for all the tries
    # since the host was made, the mirror holding the image its
    # verification pulled.
    assert dpkg_audit(host) == ""
    for unit in ("docker", "cntlm", "docker-registry", "gitlab-runner"):
        assert host.service(unit).is_running, unit
    for unit in ("docker", "docker-registry", "gitlab-runner"):
        assert service_environment(host, unit) == PROXY_ENVIRONMENT, unit
    assert runner_names(host) == ["lab-faults"]
    assert len(registrations(HOST_MADE_AFTER_REQUEST["seq"], status=201)) == 1
    assert "library/busybox" in mirror_catalog(host)


@pytest.fixture
def job_images(converged_host):
    """The lab's job images on a converged host (docker_proxy installed the engine), made if missing."""
    if converged_host.run("docker image inspect " + " ".join(JOB_IMAGES)).rc != 0:
        made = labtest.run_playbook("../../tests/lab/molecule/job-images.yml",
                                    {"lab_docker_engine": True, "lab_job_curl": True})
        assert made.returncode == 0, made.stdout[-3000:]


def wait_until_running(gitlab, job, timeout=120):
    deadline = time.monotonic() + timeout
    while gitlab.job_result(job)["status"] != "running":
        assert time.monotonic() < deadline, gitlab.job_result(job)
        time.sleep(0.5)


def main_pid(host, unit):
    return int(host.check_output(f"systemctl show -p MainPID --value {unit}"))


def test_cntlm_restarted_while_a_job_runs_the_job_and_the_next_fetch_go_through(host, job_images):
    gitlab = labtest.gitlab()
    sleeping = gitlab.queue_job(["sleep 15", "echo slept through"], tags=["faults"])
    wait_until_running(gitlab, sleeping)
    time.sleep(3)
    before = main_pid(host, "cntlm")
    host.run_expect([0], "systemctl restart cntlm")
    assert main_pid(host, "cntlm") not in (0, before)
    # The runner's trace updates and its final report go through cntlm.
    result = gitlab.wait_for_job_result(sleeping, timeout=120)
    assert result["status"] == "success", result.get("trace")
    assert "slept through" in result["trace"]
    labtest.assert_a_job_fetches_through_cntlm(tags=["faults"])


JOB_IMAGE = "behindproxy/job-busybox:lab"
# Containers started on the host beside a job's, one for each way a client
# can hold a container: whether one outlives dockerd's restart depends on it.
BESIDE_THE_JOB = {
    "behindproxy-detached": f"docker run -d --name behindproxy-detached {JOB_IMAGE} /bin/busybox sleep 300",
    "behindproxy-attached": (f"setsid docker run --name behindproxy-attached {JOB_IMAGE} /bin/busybox sleep 300 "
                             ">/dev/null 2>&1 </dev/null &"),
    # As a runner runs a job: attached, its script on the container's stdin.
    "behindproxy-stdin": (f"printf '/bin/busybox sleep 25\\n' | setsid docker run -i --name behindproxy-stdin {JOB_IMAGE} "
                          "/bin/busybox sh -s >/dev/null 2>&1 &"),
    "behindproxy-autoremove": f"docker run -d --rm --name behindproxy-autoremove {JOB_IMAGE} /bin/busybox sleep 300",
}


def test_a_dockerd_restart_keeps_containers_running_except_those_started_with_rm(host, job_images):
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["live-restore"] is True
    assert host.check_output("docker info --format '{{.LiveRestoreEnabled}}'") == "true"
    for name, command in BESIDE_THE_JOB.items():
        host.run(f"docker rm -f {name}")
        host.run_expect([0], command)
    gitlab = labtest.gitlab()
    job = gitlab.queue_job(["sleep 20", "echo survived"], tags=["faults"])
    wait_until_running(gitlab, job)
    deadline = time.monotonic() + 60
    # The runner labels each container of a job with its id and kind.
    job_build_containers = ("docker ps -q --no-trunc --filter label=com.gitlab.gitlab-runner.job.id=%d"
                            " --filter label=com.gitlab.gitlab-runner.type=build" % job)
    while not (ids := host.check_output(job_build_containers).split()):
        assert time.monotonic() < deadline, "no container for job %d" % job
        time.sleep(0.5)
    containers = dict({name: name for name in BESIDE_THE_JOB}, job=ids[0])

    def states():
        return {name: host.run("docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' " + container).stdout.strip()
                for name, container in containers.items()}

    before = states()
    while not all(state.startswith("true ") for state in before.values()):
        assert time.monotonic() < deadline, before
        time.sleep(0.5)
        before = states()
    dockerd = main_pid(host, "docker")
    host.run_expect([0], "systemctl restart docker")
    assert main_pid(host, "docker") not in (0, dockerd)
    after = states()
    try:
        # Running after the restart, the same container started once: every
        # one but those started with --rm, which Docker 20.10 (Debian 12)
        # stops and removes when it starts again, live-restore or not (moby
        # issue 46308, fixed in Engine 24.0.8 and 25.0). The runner does not
        # start a job's container with --rm: it survives.
        survived = {name: after[name] == before[name] for name in containers}
        assert survived == {"behindproxy-detached": True, "behindproxy-attached": True, "behindproxy-stdin": True,
                            "behindproxy-autoremove": False, "job": True}, (before, after)
        # The attached one runs its script to its end (exit 0).
        assert host.check_output("docker wait behindproxy-stdin") == "0"
        # The runner loses its connection to the job's container with the
        # restart; the job still ends, and reports its end to GitLab, not
        # left running.
        ended = gitlab.wait_for_job_result(job, timeout=120)
        assert ended["status"] in ("success", "failed"), ended
        assert ended["status"] == "failed" or "survived" in ended["trace"], ended.get("trace")
        # The runner and dockerd work on: the next job succeeds.
        after_restart = gitlab.queue_job(["echo after the restart"], tags=["faults"])
        result = gitlab.wait_for_job_result(after_restart, timeout=120)
        assert result["status"] == "success", result.get("trace")
    finally:
        host.run("docker rm -f " + " ".join(BESIDE_THE_JOB))


# A TCP client of cntlm (a proxied GET through it) and of the mirror (GET
# /v2/), run from each place with Python: it prints, per address:port, what
# happened: refused, timed out, no route, closed (connected, closed without
# an answer) or the HTTP status line answered (without the version).
PROBE = r"""
import json, socket, sys
REQUESTS = {3128: "GET http://files.lab.test/hello.txt HTTP/1.1\r\nHost: files.lab.test\r\n\r\n",
            5000: "GET /v2/ HTTP/1.1\r\nHost: mirror\r\n\r\n"}
def probe(address, port):
    connection = socket.socket()
    connection.settimeout(5)
    try:
        connection.connect((address, port))
        connection.sendall(REQUESTS[port].encode())
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timed out"
    except OSError as error:
        return "no route" if error.errno in (101, 113) else "error %s" % error.strerror
    finally:
        connection.close()
    # The status line without the version: "200 OK", cntlm's "407 Access denied".
    return answer.split(b"\r\n")[0].split(b" ", 1)[1].decode() if answer.startswith(b"HTTP/") else "closed"
print(json.dumps({"%s:%d" % (address, port): probe(address, port) for address, port in json.loads(sys.argv[1])}))
"""


def probe(command, targets):
    completed = subprocess.run(command + ["python3", "-c", PROBE, json.dumps(targets)],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


# A LAN host whose traffic to 172.17.0.0/16 goes to the runner host, emulated
# on the runner host: a network namespace joined by a veth pair, its default
# route through the runner host. (The lab's corp network, a Docker internal
# network, drops frames for addresses outside its subnet, so a corp host
# with such a route cannot show it.) Linux takes a packet for any of its
# addresses on any interface.
LAN_PEER = """
set -e
ip netns add behindproxy-lanpeer
ip link add lanpeer-host type veth peer name lanpeer
ip link set lanpeer netns behindproxy-lanpeer
ip address add 198.18.1.1/24 dev lanpeer-host
ip link set lanpeer-host up
ip netns exec behindproxy-lanpeer ip address add 198.18.1.2/24 dev lanpeer
ip netns exec behindproxy-lanpeer ip link set lanpeer up
ip netns exec behindproxy-lanpeer ip route add default via 198.18.1.1
"""


def test_who_can_connect_to_cntlm_and_the_mirror(host, job_images):
    corp = LAB["networks"]["corp"]
    lan = labtest.container_address(HOST, corp)
    image = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", HOST],
                           capture_output=True, text=True, check=True).stdout.strip()
    addresses = {"LAN": lan, "docker0": "172.17.0.1"}
    targets = [[address, port] for address in addresses.values() for port in (3128, 5000)]
    peer = ["docker", "run", "--rm", "--network", corp, image]
    # Another corp host sends 172.17.0.1 where its own routes say: not to
    # the runner host (in the lab, to the corp network's gateway, this machine).
    route = subprocess.run(peer + ["ip", "-o", "route", "get", "172.17.0.1"], capture_output=True, text=True, check=False)
    assert f"via {lan} " not in route.stdout + route.stderr, route
    # A job container has no Python: it runs the host's, read-only (chroot).
    in_a_container = ["docker", "exec", HOST, "docker", "run", "--rm", "-v", "/:/hostroot:ro",
                      "behindproxy/job-busybox:lab", "/bin/busybox", "chroot", "/hostroot"]
    try:
        host.run_expect([0], "docker network create behindproxy-probe")
        host.run_expect([0], LAN_PEER)
        seen = {
            "another corp host": probe(peer, [[lan, port] for port in (3128, 5000)]),
            "a LAN host routing 172.17.0.0/16 to the runner host": probe(
                ["docker", "exec", HOST, "ip", "netns", "exec", "behindproxy-lanpeer"], targets),
            "a job container (docker0)": probe(in_a_container, targets),
            "a job container on a network of its own": probe(
                in_a_container[:5] + ["--network", "behindproxy-probe"] + in_a_container[5:], targets),
        }
    finally:
        host.run("ip netns delete behindproxy-lanpeer; docker network rm behindproxy-probe")
    table = {client: {f"{name}:{port}": results.get(f"{address}:{port}", "not routed to the runner host")
                      for name, address in addresses.items() for port in (3128, 5000)}
             for client, results in seen.items()}
    # docs/security.md, "Network faults", states this table.
    assert table == {
        "another corp host": {"LAN:3128": "refused", "LAN:5000": "refused",
                              "docker0:3128": "not routed to the runner host",
                              "docker0:5000": "not routed to the runner host"},
        "a LAN host routing 172.17.0.0/16 to the runner host": {
            "LAN:3128": "refused", "LAN:5000": "refused", "docker0:3128": "407 Access denied", "docker0:5000": "200 OK"},
        "a job container (docker0)": {"LAN:3128": "refused", "LAN:5000": "refused",
                                      "docker0:3128": "200 OK", "docker0:5000": "200 OK"},
        "a job container on a network of its own": {"LAN:3128": "refused", "LAN:5000": "refused",
                                                    "docker0:3128": "200 OK", "docker0:5000": "200 OK"},
    }


@pytest.fixture
def every_converge_output(host):
    """OUTPUTS and COMMAND_LINES holding the seven converges of this module: those the tests
    before ran, the missing ones run now, in the tests' order."""
    for name in FAULTS:
        if name not in OUTPUTS:
            fault_converge(host, name)
            if name == "corp-proxy stopped as the mirror is verified":
                wait_until_the_mirror_answers(host)
    if COMPLETING not in OUTPUTS or NEXT not in OUTPUTS:
        converge_to_the_end(host)


@pytest.mark.usefixtures("every_converge_output")
def test_no_secret_in_any_output_journal_command_line_readable_file_or_the_proxy_log(converged_host):
    host = converged_host
    hub_token = (labtest.LAB_DIRECTORY.parents[1] / "build" / "lab" / "secrets" / "hub-account" / "token")
    runner_token = host.check_output(
        f"python3 -c \"import tomllib, sys; print(tomllib.load(open(sys.argv[1], 'rb'))['runners'][0]['token'])\" {CONFIG}")
    secrets = {
        LAB["ntlm"]["password"]: [LAB["ntlm"]["user"]],
        LAB["basic"]["password"]: [LAB["basic"]["user"]],
        # The mirror's upstream account, and the token its login gets.
        LAB["registry"]["account"]["password"]: [LAB["registry"]["account"]["user"]],
        hub_token.read_text(encoding="utf-8").strip(): [],
        REGISTRATION_TOKEN: [],
        runner_token: [],
    }
    assert len(OUTPUTS) == 7 and len(COMMAND_LINES) >= 10, (sorted(OUTPUTS), len(COMMAND_LINES))
    places = {f"converge output at -vvv --diff ({name})": text for name, text in OUTPUTS.items()}
    places["process tables (%d samples)" % len(COMMAND_LINES)] = "\n".join(COMMAND_LINES)
    assert labtest.find_secrets(HOST, labtest.secret_forms(secrets), places) == {}, "secrets found"
