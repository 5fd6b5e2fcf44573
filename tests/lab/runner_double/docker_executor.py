# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one job the way the Docker executor does, with the docker CLI.

Order: services on a per-job network (with their aliases, every job variable
and their own variables, the runner's volumes, `services_privileged`), a wait
for their exposed ports, pre_get_sources_script and `git clone` of the job's
repository, then one job container from the job's image (else [runners.docker]
image, its own entrypoint kept) with the runner's environment and the job's
variables, running pre_build_script, the job script and post_build_script
under `set -e`. Every docker command goes to the runner's daemon:
[runners.docker] host, tls_verify and tls_cert_path when host is set, else the
process's own DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.

Simplification (see README): the real runner clones in its helper container;
the double runs pre_get_sources_script and git on the host, in a scratch HOME,
with the runner's environment and the job's variables, and copies the clone
into the job container at /builds/<project> (`docker cp`, so that a remote
daemon gets it too).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time

PROJECT_DIR = "/builds/lab"
# The runner's default wait_for_services_timeout (common.DefaultWaitForServicesTimeout).
DEFAULT_WAIT_FOR_SERVICES_SECONDS = 30
# An image reference's registry port, as the runner strips it from derived service names.
REGISTRY_PORT = re.compile(r"^(.*?)(|:[0-9]+)(|/.*)$")


def variable_pairs(variables):
    """NAME=value strings of a job payload's variables list ([{"key": ..., "value": ...}])."""
    return ["%s=%s" % (variable["key"], variable["value"]) for variable in variables or []]


def environment_pairs(runner, job):
    """NAME=value strings for the job container: the runner's environment, then the job's variables."""
    pairs = list(runner.get("environment", []))
    pairs += variable_pairs(job.get("variables", []))
    pairs += ["CI_JOB_ID=%d" % job["id"], "CI_PROJECT_DIR=%s" % PROJECT_DIR, "CI_SERVER_URL=%s" % runner["url"],
              "CI=true", "GITLAB_CI=true"]
    return pairs


def derived_service_names(image):
    """The names the runner gives a service from its image (services.SplitNameAndVersion): the
    reference without tag, digest and registry port, with / as __ and, when different, as -."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    registry, _port, path = REGISTRY_PORT.match(name).groups()
    name = registry + path
    return list(dict.fromkeys([name.replace("/", "__"), name.replace("/", "-")]))


def service_aliases(service):
    """The service's network aliases: the derived names, then its `alias` (space- or comma-separated)."""
    explicit = service.get("alias", "").replace(",", " ").split()
    return list(dict.fromkeys(derived_service_names(service["name"]) + explicit))


def job_services(runner, job):
    """Services from [[runners.docker.services]] and then the job's own."""
    configured = runner.get("docker", {}).get("services", [])
    return [dict(service) for service in configured] + [dict(service) for service in job.get("services", [])]


def env_file_text(pairs):
    """The --env-file content for the pairs docker can read from one (a value must fit on one line)."""
    return "".join(pair + "\n" for pair in pairs if "\n" not in pair)


def environment_flags(pairs, env_file):
    """Values go through a 0600 file, not argv, so proxy credentials never show in the process list."""
    flags = ["--env-file", env_file]
    for pair in pairs:
        if "\n" in pair:
            flags += ["-e", pair]
    return flags


def service_environment(runner, job, service):
    """A service container's variables, as the runner gives them: every job variable (the runner's
    environment, the job's variables, the predefined ones), then the service's own (`environment` of
    [[runners.docker.services]], `variables` of a job's service)."""
    return (environment_pairs(runner, job) + list(service.get("environment", []))
            + variable_pairs(service.get("variables", [])))


def docker_environment(runner, base=None):
    """The environment of every docker command of a job: like the runner, the daemon of [runners.docker]
    host (with tls_verify and tls_cert_path) when it is set, else the process's own DOCKER_* variables."""
    environment = dict(os.environ if base is None else base)
    docker = runner.get("docker", {})
    if docker.get("host"):
        environment["DOCKER_HOST"] = docker["host"]
        environment.pop("DOCKER_TLS_VERIFY", None)
        environment.pop("DOCKER_CERT_PATH", None)
        if docker.get("tls_verify"):
            # The docker CLI verifies when DOCKER_TLS_VERIFY has any value: only set it for true.
            environment["DOCKER_TLS_VERIFY"] = "1"
            if docker.get("tls_cert_path"):
                environment["DOCKER_CERT_PATH"] = docker["tls_cert_path"]
    return environment


def client_config_without_proxies(text):
    """The docker client's config.json without `proxies`. The CLI puts those into every container it
    creates, over the variables it was given; the runner talks to the API and never does, so the
    double's docker commands read a copy without them (auths and credential helpers stay)."""
    document = json.loads(text) if text.strip() else {}
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    document.pop("proxies", None)
    return document


def cache_volume_names(runner, prefix):
    """The runner's volumes without a host path ("/certs/client"): one Docker volume each, named per
    job, shared by the job's services and its container (a simplification: the runner keeps such
    volumes between jobs unless disable_cache is set)."""
    return {volume: "%s-cache-%s" % (prefix, hashlib.sha256(volume.encode()).hexdigest()[:12])
            for volume in runner.get("docker", {}).get("volumes", []) if ":" not in volume}


def volume_flags(runner, cache_volumes):
    """-v flags for the runner's volumes, given to services and the job container alike: host paths
    and named volumes as written, the others as the job's cache volumes."""
    flags = []
    for volume in runner.get("docker", {}).get("volumes", []):
        flags += ["-v", "%s:%s" % (cache_volumes[volume], volume) if volume in cache_volumes else volume]
    return flags


def services_privileged(runner):
    """services_privileged when set, else privileged (executors/docker: createHostConfigForService)."""
    docker = runner.get("docker", {})
    if docker.get("services_privileged") is not None:
        return docker["services_privileged"]
    return bool(docker.get("privileged"))


def host_flags(runner):
    """--add-host and --dns, which the runner gives services and the job container alike."""
    docker = runner.get("docker", {})
    flags = []
    for host in docker.get("extra_hosts", []):
        flags += ["--add-host", host]
    for server in docker.get("dns", []):
        flags += ["--dns", server]
    return flags


def entrypoint_flags(entrypoint):
    """(flags before the image, arguments after it) for an entrypoint list: docker run takes one word."""
    if not entrypoint:
        return [], []
    return ["--entrypoint", entrypoint[0]], list(entrypoint[1:])


def service_command(runner, job, service, number, network, prefix, env_file, volumes):
    command = ["docker", "run", "-d", "--name", "%s-service-%d" % (prefix, number),
               "--network", network]
    for alias in service_aliases(service):
        command += ["--network-alias", alias]
    if services_privileged(runner):
        command.append("--privileged")
    command += host_flags(runner) + list(volumes)
    command += environment_flags(service_environment(runner, job, service), env_file)
    before, after = entrypoint_flags(service.get("entrypoint"))
    command += before + [service["name"]] + after + list(service.get("command", []))
    return command


def job_image(runner, job):
    image = (job.get("image") or {}).get("name") or runner.get("docker", {}).get("image")
    if not image:
        raise ValueError("job %d has no image and [runners.docker] image is not set" % job["id"])
    return image


def build_container_command(runner, job, network, prefix, env_file, volumes):
    """`docker create` of the job container: the image's own entrypoint is kept (the job's image
    entrypoint replaces it) and gets `sh -s`, the shell that reads the job script on stdin."""
    docker = runner.get("docker", {})
    command = ["docker", "create", "-i", "--name", prefix]
    if network:
        command += ["--network", network]
    elif docker.get("network_mode"):
        command += ["--network", docker["network_mode"]]
    if docker.get("privileged"):
        command.append("--privileged")
    command += list(volumes) + host_flags(runner)
    command += environment_flags(environment_pairs(runner, job), env_file)
    before, after = entrypoint_flags((job.get("image") or {}).get("entrypoint"))
    command += ["-w", PROJECT_DIR] + before + [job_image(runner, job)] + after + ["sh", "-s"]
    return command


def exposed_tcp_ports(inspect):
    """The TCP ports a container's image exposes, from `docker inspect`."""
    ports = (inspect.get("Config") or {}).get("ExposedPorts") or {}
    return sorted(int(port.split("/")[0]) for port in ports if port.endswith("/tcp"))


def wait_for_services_timeout(runner):
    """wait_for_services_timeout as the runner reads it: 0 or unset is 30 s, a negative value skips."""
    timeout = runner.get("docker", {}).get("wait_for_services_timeout") or DEFAULT_WAIT_FOR_SERVICES_SECONDS
    return max(timeout, 0)


def port_answers(address, port):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def build_script(runner, job):
    """The shell script fed to the job container: pre_build_script, the job's lines (echoed), post_build_script."""
    lines = ["set -e"]
    if runner.get("pre_build_script"):
        lines.append(runner["pre_build_script"])
    for step in job.get("steps", []):
        for line in step.get("script", []):
            lines.append("printf '%%s\\n' %s" % shlex.quote("$ " + line))
            lines.append(line)
    if runner.get("post_build_script"):
        lines.append(runner["post_build_script"])
    return "\n".join(lines) + "\n"


def get_sources_environment(runner, job, home):
    """The host-side environment for pre_get_sources_script and git: the runner's, in a scratch HOME."""
    environment = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": home,
                   "GIT_TERMINAL_PROMPT": "0"}
    for pair in environment_pairs(runner, job):
        name, _separator, value = pair.partition("=")
        environment[name] = value
    return environment


def write_private(path, text):
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def is_remote(environment):
    """Whether the docker commands of that environment go to a daemon on another machine or container."""
    host = environment.get("DOCKER_HOST", "")
    return bool(host) and not host.startswith("unix://")


class JobRun:
    """One job: `run()` returns its exit code; the trace is collected in `trace` and passed to `on_output` as it comes."""

    def __init__(self, runner, job, timeout, on_output=None):
        self.runner = runner
        self.job = job
        self.timeout = timeout
        self.trace = []
        self.on_output = on_output
        # Unique per run: names of an interrupted earlier run must not collide.
        self.prefix = "behindproxy-job-%d-%s" % (job["id"], secrets.token_hex(3))
        self.docker_env = docker_environment(runner)

    def _note(self, text):
        text = text if text.endswith("\n") else text + "\n"
        self.trace.append(text)
        if self.on_output is not None:
            self.on_output(text)

    def _stream(self, command, script):
        """Run the job container, passing its output on line by line; stop it at the job's timeout."""
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=self.docker_env)
        timed_out = threading.Event()

        def stop():
            timed_out.set()
            self._docker_quietly(["docker", "rm", "-f", self.prefix])
            process.kill()

        watchdog = threading.Timer(self.timeout, stop)
        watchdog.start()
        try:
            try:
                process.stdin.write(script)
                process.stdin.close()
            except BrokenPipeError:
                pass  # the container did not start; docker's message comes on stdout
            for line in process.stdout:
                self._note(line)
            process.wait()
        finally:
            watchdog.cancel()
            process.stdout.close()
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(command, self.timeout)
        return process.returncode

    def _run(self, command, quiet=False, **options):
        """Run a command with its output in the trace (with quiet, only when it fails)."""
        completed = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=self.timeout, **options)
        if completed.stdout and not (quiet and completed.returncode == 0):
            self._note(completed.stdout)
        return completed.returncode

    def _docker(self, command):
        """A docker command of the job, on the runner's daemon; its output reaches the trace only on failure."""
        return self._run(command, quiet=True, env=self.docker_env)

    def _docker_quietly(self, command):
        """A clean-up docker command: its outcome does not matter."""
        return subprocess.run(command, capture_output=True, check=False, env=self.docker_env)

    def _get_sources(self, build_dir, home):
        """pre_get_sources_script, then the clone, in one shell, as the runner's get_sources stage runs them
        (what the script exports reaches git)."""
        environment = get_sources_environment(self.runner, self.job, home)
        script = self.runner.get("pre_get_sources_script") or ""
        if script:
            self._note("Running pre_get_sources_script (on the runner host: test double)")
        repo_url = self.job.get("git_info", {}).get("repo_url")
        arguments = []
        if repo_url:
            ref = self.job["git_info"].get("ref") or "main"
            script += '\necho "Fetching changes: git clone $2"\nexec git clone --branch "$1" "$2" "$3"'
            arguments = [ref, repo_url, build_dir]
        else:
            self._note("No repository to clone")
        if not script:
            return 0
        return self._run(["sh", "-ec", script, "get_sources"] + arguments, env=environment, cwd=home)

    def _use_client_config_without_proxies(self, directory):
        source = os.path.join(self.docker_env.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")
        try:
            with open(source, encoding="utf-8") as handle:
                document = client_config_without_proxies(handle.read())
        except FileNotFoundError:
            document = {}
        except ValueError as error:
            self._note("WARNING: %s ignored (%s)" % (source, error))
            document = {}
        os.makedirs(directory, mode=0o700)
        write_private(os.path.join(directory, "config.json"), json.dumps(document))
        self.docker_env["DOCKER_CONFIG"] = directory

    def _service_warning(self, name, reason):
        self._note("*** WARNING: Service %s probably didn't start properly.\nHealth check error: %s" % (name, reason))

    def _wait_for_services(self, names, network):
        """Like the runner's health check: wait until one exposed TCP port of each service answers, at
        most wait_for_services_timeout seconds for all of them, then go on (with a warning)."""
        timeout = wait_for_services_timeout(self.runner)
        if not names or not timeout:
            return
        self._note("Waiting for services to be up and running (timeout %d seconds)..." % timeout)
        deadline = time.monotonic() + timeout
        for name in names:
            inspected = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=False,
                                       env=self.docker_env)
            if inspected.returncode != 0:
                self._service_warning(name, inspected.stderr.strip())
                continue
            document = json.loads(inspected.stdout)[0]
            ports = exposed_tcp_ports(document)
            if not ports:
                self._service_warning(name, "service %r has no exposed ports" % name)
                continue
            if is_remote(self.docker_env):
                self._note("Service %s: its ports are not checked on a remote daemon (test double)" % name)
                continue
            address = document["NetworkSettings"]["Networks"].get(network, {}).get("IPAddress")
            while not (address and any(port_answers(address, port) for port in ports)):
                if time.monotonic() > deadline:
                    self._service_warning(name, "service %r timeout (ports %s)" % (name, ", ".join(map(str, ports))))
                    break
                time.sleep(0.5)

    def run(self):
        job_id = self.job["id"]
        self._note("Running with gitlab-runner TEST DOUBLE (not GitLab Runner), executor docker, job %d" % job_id)
        scratch = tempfile.mkdtemp(prefix="behindproxy-job-%d-" % job_id)
        build_dir = os.path.join(scratch, "build")
        home = os.path.join(scratch, "home")
        os.makedirs(home)
        self._use_client_config_without_proxies(os.path.join(scratch, "docker-config"))
        services = job_services(self.runner, self.job)
        network = self.prefix if services else None
        cache_volumes = cache_volume_names(self.runner, self.prefix)
        volumes = volume_flags(self.runner, cache_volumes)
        started, created = [], []
        try:
            status = self._get_sources(build_dir, home)
            if status:
                return status
            os.makedirs(build_dir, exist_ok=True)
            if network:
                self._docker(["docker", "network", "create", network])
            for number, service in enumerate(services):
                self._note("Starting service %s" % service["name"])
                env_file = write_private(os.path.join(scratch, "service-%d.env" % number),
                                         env_file_text(service_environment(self.runner, self.job, service)))
                command = service_command(self.runner, self.job, service, number, network, self.prefix, env_file,
                                          volumes)
                name = command[command.index("--name") + 1]
                # A service that fails to start is left created: removed with the others at the end.
                created.append(name)
                if self._docker(command) == 0:
                    started.append(name)
            self._wait_for_services(started, network)
            self._note("Using docker image %s" % job_image(self.runner, self.job))
            env_file = write_private(os.path.join(scratch, "job.env"),
                                     env_file_text(environment_pairs(self.runner, self.job)))
            status = self._docker(build_container_command(self.runner, self.job, network, self.prefix, env_file,
                                                          volumes))
            # The clone goes into the container, not through a bind mount: the daemon may be elsewhere.
            status = status or self._docker(["docker", "cp", build_dir + "/.", "%s:%s" % (self.prefix, PROJECT_DIR)])
            if status:
                return status
            return self._stream(["docker", "start", "--attach", "--interactive", self.prefix],
                                build_script(self.runner, self.job))
        except subprocess.TimeoutExpired:
            self._note("ERROR: job timed out after %ss" % self.timeout)
            return 124
        finally:
            self._docker_quietly(["docker", "rm", "-f", "-v", self.prefix])
            for name in created:
                self._docker_quietly(["docker", "rm", "-f", "-v", name])
            if network:
                self._docker_quietly(["docker", "network", "rm", network])
            for volume in cache_volumes.values():
                self._docker_quietly(["docker", "volume", "rm", volume])
            shutil.rmtree(scratch, ignore_errors=True)
