# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a dind runner needs from the runner double's Docker executor.

[runners.docker] host (with tls_verify and tls_cert_path), volumes shared by services and the job,
services_privileged, a service's alias, command, entrypoint and variables, the wait for services'
ports, and the job image's own entrypoint. Pure tests for the commands and environments; real
containers on this machine's engine (the busybox job image) for what the commands do, with small
forwarders standing in for a remote daemon (plain TCP, and TLS with client certificates).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import ssl
import subprocess
import threading

import pytest

import docker_executor
import runner_config

JOB_IDS = itertools.count(9001)


def job(script, image, services=None, variables=None, repo_url=""):
    return {"id": next(JOB_IDS), "variables": [{"key": key, "value": value} for key, value in (variables or {}).items()],
            "steps": [{"script": list(script)}], "image": {"name": image}, "services": list(services or []),
            "git_info": {"repo_url": repo_url}}


def runner(**docker):
    return {"url": "http://gitlab.lab.test", "environment": ["RUNNER_VAR=from-runner"], "docker": docker}


def run_job(runner_settings, payload, timeout=60):
    run = docker_executor.JobRun(runner_settings, payload, timeout)
    status = run.run()
    return status, "".join(run.trace)


def leftovers(payload, prefix=None):
    """Containers, networks and volumes of a job (of one run of it, with its prefix) that are still there."""
    prefix = prefix or "behindproxy-job-%d-" % payload["id"]
    found = []
    for kind in ("container", "network", "volume"):
        listing = subprocess.run(["docker", kind, "ls", "-q", "--filter", "name=" + prefix] + (["-a"] if kind == "container" else []),
                                 capture_output=True, text=True, check=True).stdout.split()
        found += ["%s %s" % (kind, name) for name in listing]
    return found


# --- pure: the daemon, volumes, privileges, service definitions ------------------------------------

def test_host_sends_every_docker_command_to_that_daemon_with_its_tls_settings():
    inherited = {"PATH": "/usr/bin", "DOCKER_HOST": "unix:///run/other.sock", "DOCKER_TLS_VERIFY": "1",
                 "DOCKER_CERT_PATH": "/etc/other"}
    tls = docker_executor.docker_environment(
        runner(host="tcp://docker:2376", tls_verify=True, tls_cert_path="/certs/client"), inherited)
    assert (tls["DOCKER_HOST"], tls["DOCKER_TLS_VERIFY"], tls["DOCKER_CERT_PATH"]) == \
        ("tcp://docker:2376", "1", "/certs/client")
    plain = docker_executor.docker_environment(runner(host="tcp://docker:2375", tls_cert_path="/certs"), inherited)
    assert plain["DOCKER_HOST"] == "tcp://docker:2375"
    assert "DOCKER_TLS_VERIFY" not in plain and "DOCKER_CERT_PATH" not in plain, \
        "the runner takes all three from config.toml when host is set"
    assert docker_executor.docker_environment(runner(), inherited) == inherited
    assert inherited["DOCKER_HOST"] == "unix:///run/other.sock", "the process environment is not changed"


@pytest.mark.parametrize("host, remote", [
    (None, False), ("unix:///var/run/docker.sock", False), ("tcp://docker:2375", True), ("ssh://builder", True),
])
def test_a_daemon_over_the_network_is_remote(host, remote):
    assert docker_executor.is_remote({"DOCKER_HOST": host} if host else {}) is remote


def test_volumes_without_a_host_path_become_one_volume_per_job_shared_by_services_and_the_job():
    settings = runner(volumes=["/certs/client", "/srv/cache:/cache:ro", "named:/data", "/builds-cache"])
    names = docker_executor.cache_volume_names(settings, "behindproxy-job-1-abc")
    assert set(names) == {"/certs/client", "/builds-cache"}
    assert len(set(names.values())) == 2 and all(name.startswith("behindproxy-job-1-abc-cache-")
                                                 for name in names.values())
    flags = docker_executor.volume_flags(settings, names)
    assert flags == ["-v", names["/certs/client"] + ":/certs/client", "-v", "/srv/cache:/cache:ro",
                     "-v", "named:/data", "-v", names["/builds-cache"] + ":/builds-cache"]
    payload = job(["true"], "busybox", services=[{"name": "docker:dind"}])
    service = docker_executor.service_command(settings, payload, payload["services"][0], 0, "net", "p", "/s.env", flags)
    build = docker_executor.build_container_command(settings, payload, "net", "p", "/j.env", flags)
    for command in (service, build):
        position = command.index("-v")
        assert command[position:position + len(flags)] == flags


@pytest.mark.parametrize("privileged, services_privileged, service_gets, job_gets", [
    (None, None, False, False),
    (True, None, True, True),
    (True, False, False, True),
    (False, True, True, False),
    (None, True, True, False),
])
def test_services_privileged_overrides_privileged_for_services_only(
        privileged, services_privileged, service_gets, job_gets):
    given = (("privileged", privileged), ("services_privileged", services_privileged))
    settings = runner(**{key: value for key, value in given if value is not None})
    payload = job(["true"], "busybox", services=[{"name": "docker:dind"}])
    service = docker_executor.service_command(settings, payload, payload["services"][0], 0, "net", "p", "/s.env", [])
    build = docker_executor.build_container_command(settings, payload, "net", "p", "/j.env", [])
    assert ("--privileged" in service, "--privileged" in build) == (service_gets, job_gets)


def test_a_job_service_gets_every_job_variable_then_its_own_variables_entrypoint_and_command():
    settings = runner()
    settings["docker"]["extra_hosts"] = ["files.lab.test:198.18.0.9"]
    dind = {"name": "docker:dind", "alias": "dind-tls", "entrypoint": ["dockerd-entrypoint.sh", "--debug"],
            "command": ["--registry-mirror=http://172.17.0.1:5000"],
            "variables": [{"key": "DOCKER_TLS_CERTDIR", "value": ""}]}
    payload = job(["true"], "docker:cli", services=[dind], variables={"JOB_VAR": "from-job"})
    pairs = docker_executor.service_environment(settings, payload, dind)
    assert pairs[:2] == ["RUNNER_VAR=from-runner", "JOB_VAR=from-job"]
    assert "CI_JOB_ID=%d" % payload["id"] in pairs
    assert pairs[-1] == "DOCKER_TLS_CERTDIR="
    command = docker_executor.service_command(settings, payload, dind, 0, "net", "p", "/s.env", [])
    aliases = [command[index + 1] for index, word in enumerate(command) if word == "--network-alias"]
    assert aliases == ["docker", "dind-tls"]
    assert ["--add-host", "files.lab.test:198.18.0.9"] == command[command.index("--add-host"):command.index("--add-host") + 2]
    assert command[command.index("--entrypoint"):] == ["--entrypoint", "dockerd-entrypoint.sh", "docker:dind", "--debug",
                                                       "--registry-mirror=http://172.17.0.1:5000"]


def test_exposed_ports_and_the_services_timeout_are_read_like_the_runner():
    inspect = {"Config": {"ExposedPorts": {"2376/tcp": {}, "2375/tcp": {}, "53/udp": {}}}}
    assert docker_executor.exposed_tcp_ports(inspect) == [2375, 2376]
    assert docker_executor.exposed_tcp_ports({"Config": {"ExposedPorts": None}}) == []
    assert [docker_executor.wait_for_services_timeout(runner(**settings)) for settings in
            ({}, {"wait_for_services_timeout": 0}, {"wait_for_services_timeout": 5},
             {"wait_for_services_timeout": -1})] == [30, 30, 5, 0]


def test_the_double_reads_the_dind_keys_strictly():
    with pytest.raises(runner_config.ConfigError) as error:
        runner_config.parse('[[runners]]\nname = "r"\n[runners.docker]\nservices_privileged = "yes"\n'
                            'host = 2375\ntls_verify = 1\nwait_for_services_timeout = "30"\n')
    for key in ("services_privileged: expected boolean", "host: expected string", "tls_verify: expected boolean",
                "wait_for_services_timeout: expected integer"):
        assert key in str(error.value)


# --- real containers on this machine's engine -------------------------------------------------------

@pytest.fixture(scope="session")
def image_with(job_image, tmp_path_factory):
    """Images made from the busybox job image with one more Dockerfile line, by tag (nothing is pulled)."""
    def make(line):
        import hashlib
        tag = "behindproxy/job-busybox-variant:%s" % hashlib.sha256((job_image + line).encode()).hexdigest()[:12]
        if subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode:
            context = tmp_path_factory.mktemp("variant")
            (context / "Dockerfile").write_text("FROM %s\n%s\n" % (job_image, line))
            subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True, capture_output=True)
        return tag
    return make


def test_a_cache_volume_is_shared_by_the_service_and_the_job_and_removed_afterwards(job_image):
    writer = {"name": job_image, "alias": "writer",
              "command": ["sh", "-c", "echo written-by-service > /shared/marker; sleep 60"]}
    payload = job(["for i in $(seq 40); do test -s /shared/marker && break; sleep 0.25; done", "cat /shared/marker"],
                  job_image, services=[writer])
    status, trace = run_job(runner(volumes=["/shared"], wait_for_services_timeout=-1), payload)
    assert status == 0, trace
    assert "\nwritten-by-service" in trace
    assert leftovers(payload) == []


def test_services_privileged_reaches_the_service_only(job_image):
    """--privileged cannot start here ("unable to apply caps"), which shows where the flag went."""
    service = {"name": job_image, "alias": "svc", "command": ["sleep", "60"]}
    payload = job(["echo job-ran-unprivileged"], job_image, services=[service])
    run = docker_executor.JobRun(runner(services_privileged=True, wait_for_services_timeout=-1), payload, 60)
    status = run.run()
    trace = "".join(run.trace)
    assert status == 0, trace
    assert "unable to apply caps" in trace
    assert "\njob-ran-unprivileged" in trace
    # The service container that could not start is removed with the job's other containers.
    assert leftovers(payload, run.prefix) == []


def test_the_job_waits_for_a_services_exposed_port(image_with):
    slow = {"name": image_with("EXPOSE 8080"), "alias": "slow",
            "command": ["sh", "-c", "sleep 3; mkdir -p /www; echo slow-service-up > /www/index.html; "
                                    "httpd -f -p 8080 -h /www"]}
    payload = job(["wget -q -O- http://slow:8080/"], image_with("EXPOSE 8080"), services=[slow])
    status, trace = run_job(runner(), payload)
    assert status == 0, trace
    assert "Waiting for services to be up and running (timeout 30 seconds)" in trace
    assert "\nslow-service-up" in trace and "WARNING" not in trace


def test_a_service_that_never_listens_costs_the_timeout_and_a_warning_not_the_job(image_with):
    silent = {"name": image_with("EXPOSE 8080"), "alias": "silent", "command": ["sleep", "60"]}
    payload = job(["echo job-went-on"], image_with("EXPOSE 8080"), services=[silent])
    status, trace = run_job(runner(wait_for_services_timeout=2), payload)
    assert status == 0, trace
    assert "probably didn't start properly" in trace and "timeout (ports 8080)" in trace
    assert "\njob-went-on" in trace


def test_the_job_images_entrypoint_runs_before_the_script(image_with):
    image = image_with('ENTRYPOINT ["sh", "-c", "export SET_BY_ENTRYPOINT=yes; exec \\"$@\\"", "--"]')
    payload = job(['echo "entrypoint: $SET_BY_ENTRYPOINT"'], image)
    status, trace = run_job(runner(), payload)
    assert status == 0, trace
    assert "\nentrypoint: yes" in trace


class DaemonForwarder:
    """A TCP (optionally TLS, client certificate required) front for this machine's Docker socket,
    standing in for a remote daemon; it counts the connections it forwarded and the client
    certificates' common names."""

    def __init__(self, tls_context=None):
        self.tls_context = tls_context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.client_names = set()
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self):
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            if self.tls_context is not None:
                client = self.tls_context.wrap_socket(client, server_side=True)
                subject = dict(pair[0] for pair in client.getpeercert()["subject"])
                self.client_names.add(subject.get("commonName"))
        except (OSError, ssl.SSLError):
            client.close()
            return
        self.connections += 1
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect("/var/run/docker.sock")
        back = threading.Thread(target=self._pump, args=(upstream, client), daemon=True)
        back.start()
        self._pump(client, upstream)
        back.join(timeout=120)
        client.close()
        upstream.close()

    @staticmethod
    def _pump(source, target):
        """Copy until the source ends, then end the target's writing side (docker attach half-closes)."""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except (OSError, ssl.SSLError):
            pass
        try:
            if isinstance(target, ssl.SSLSocket):
                target.unwrap()
            else:
                target.shutdown(socket.SHUT_WR)
        except (OSError, ssl.SSLError, ValueError):
            pass

    def close(self):
        """Stop accepting before the descriptor is closed: a thread still in accept() on a closed
        descriptor would take the connections of whichever socket gets that number next (seen: a fake
        GitLab's, whose trace PATCH then reached the Docker daemon)."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.accepting.join(timeout=10)
        self.listener.close()


@pytest.fixture
def git_clone_source(tmp_path):
    work = tmp_path / "repository"
    work.mkdir()
    (work / "README").write_text("cloned on the runner host, copied to the daemon\n")
    git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@lab.test", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q", str(work)], check=True)
    subprocess.run(git + ["-C", str(work), "add", "README"], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-q", "-m", "first"], check=True)
    return "file://%s" % work


def test_host_runs_services_and_the_job_on_that_daemon_with_the_clone_copied_in(
        job_image, git_clone_source, monkeypatch):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    forwarder = DaemonForwarder()
    try:
        service = {"name": job_image, "alias": "helper", "command": ["sleep", "60"]}
        payload = job(["cat README", "pwd"], job_image, services=[service], repo_url=git_clone_source)
        status, trace = run_job(runner(host="tcp://127.0.0.1:%d" % forwarder.port), payload)
    finally:
        forwarder.close()
    assert status == 0, trace
    assert "\ncloned on the runner host, copied to the daemon" in trace and "\n/builds/lab\n" in trace
    # network, service, its inspection, create, cp, start and the clean-ups: all through the forwarder
    assert forwarder.connections >= 8
    assert leftovers(payload) == []


def make_tls_material(directory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as dind makes them."""
    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=directory)
    openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca-key.pem", "-out", "ca.pem")
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
                            ("client", "extendedKeyUsage=clientAuth\n")):
        (directory / (name + ".ext")).write_text(extension)
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=docker:dind " + name,
                "-keyout", name + "-key.pem", "-out", name + ".csr")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-days", "2", "-extfile", name + ".ext", "-out", name + "-cert.pem")
    client = directory / "client"
    client.mkdir()
    for source, target in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / target).write_bytes((directory / source).read_bytes())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(directory / "server-cert.pem"), str(directory / "server-key.pem"))
    context.load_verify_locations(str(directory / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    return context, client


def test_tls_verify_and_tls_cert_path_reach_a_daemon_that_demands_a_client_certificate(
        job_image, tmp_path, monkeypatch):
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    context, client_directory = make_tls_material(tmp_path)
    forwarder = DaemonForwarder(context)
    try:
        host = "tcp://127.0.0.1:%d" % forwarder.port
        payload = job(["echo over-tls"], job_image)
        status, trace = run_job(runner(host=host, tls_verify=True, tls_cert_path=str(client_directory)), payload)
        refused_payload = job(["echo never"], job_image)
        refused_status, refused_trace = run_job(runner(host=host, tls_cert_path=str(client_directory)),
                                                refused_payload)
    finally:
        forwarder.close()
    assert status == 0, trace
    assert "\nover-tls" in trace
    assert forwarder.client_names == {"docker:dind client"}
    assert refused_status != 0, "without tls_verify the runner (and the double) speak plain HTTP to the TLS port"
    assert "\nnever" not in refused_trace
    assert os.path.isdir(client_directory)


def test_the_client_configs_proxies_are_left_out_and_its_other_keys_kept():
    text = json.dumps({"auths": {"push.lab.test": {"auth": "dXNlcjpwdw=="}}, "credsStore": "pass",
                       "proxies": {"default": {"httpProxy": "http://172.17.0.1:3128", "noProxy": "localhost"}}})
    assert docker_executor.client_config_without_proxies(text) == {
        "auths": {"push.lab.test": {"auth": "dXNlcjpwdw=="}}, "credsStore": "pass"}
    assert docker_executor.client_config_without_proxies("") == {}
    with pytest.raises(ValueError):
        docker_executor.client_config_without_proxies("[]")


def test_the_client_configs_proxies_do_not_replace_the_runners_variables_in_containers(
        job_image, tmp_path, monkeypatch):
    """The docker CLI would put root's ~/.docker/config.json proxies (the docker_proxy role writes
    them) over the runner's NO_PROXY in every container; found by the lab's dind proof, where the
    job's client then asked the proxy for tcp://docker:2375."""
    config_directory = tmp_path / "client-config"
    config_directory.mkdir()
    (config_directory / "config.json").write_text(json.dumps({"proxies": {"default": {
        "httpProxy": "http://from-client-config:3128", "noProxy": "localhost", "ftpProxy": "http://ftp-proxy:21"}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_directory))
    settings = runner()
    settings["environment"] = ["HTTP_PROXY=http://from-runner:3128", "NO_PROXY=localhost,docker"]
    service = {"name": job_image, "alias": "svc",
               "command": ["sh", "-c", "echo \"service: $HTTP_PROXY $NO_PROXY ${FTP_PROXY:-no-ftp}\" > /shared/seen; "
                                       "sleep 60"]}
    payload = job(["for i in $(seq 40); do test -s /shared/seen && break; sleep 0.25; done", "cat /shared/seen",
                   "echo \"job: $HTTP_PROXY $NO_PROXY ${FTP_PROXY:-no-ftp}\""], job_image, services=[service])
    settings["docker"].update(volumes=["/shared"], wait_for_services_timeout=-1)
    status, trace = run_job(settings, payload)
    assert status == 0, trace
    assert "\nservice: http://from-runner:3128 localhost,docker no-ftp" in trace
    assert "\njob: http://from-runner:3128 localhost,docker no-ftp" in trace
    assert json.loads((config_directory / "config.json").read_text())["proxies"], "the user's file is not changed"
