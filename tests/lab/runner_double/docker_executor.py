# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one job the way the Docker executor does, with the docker CLI on the host.

Order: services on a per-job network (with their aliases and the runner's
environment), pre_get_sources_script and `git clone` of the job's repository,
then one job container from the job's image (else [runners.docker] image) with
the runner's environment and the job's variables, running pre_build_script,
the job script and post_build_script under `set -e`.

Simplification (see README): the real runner clones in its helper container;
the double runs pre_get_sources_script and git on the host, in a scratch HOME,
with the runner's environment and the job's variables, and mounts the clone
into the job container at /builds/<project>.
"""

from __future__ import annotations

import os
import shlex
import secrets
import shutil
import subprocess
import tempfile
import threading

PROJECT_DIR = "/builds/lab"


def job_variables(job):
    return {variable["key"]: variable["value"] for variable in job.get("variables", [])}


def environment_pairs(runner, job):
    """NAME=value strings for the job container: the runner's environment, then the job's variables."""
    pairs = list(runner.get("environment", []))
    pairs += ["%s=%s" % (key, value) for key, value in job_variables(job).items()]
    pairs += ["CI_JOB_ID=%d" % job["id"], "CI_PROJECT_DIR=%s" % PROJECT_DIR, "CI_SERVER_URL=%s" % runner["url"],
              "CI=true", "GITLAB_CI=true"]
    return pairs


def service_aliases(service):
    """Aliases the runner gives a service: its `alias`, else names derived from the image like the runner does."""
    if service.get("alias"):
        return [alias.strip() for alias in service["alias"].replace(",", " ").split() if alias.strip()]
    image = service["name"].split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image = image[: len(image) - len(last)] + last.split(":", 1)[0]
    aliases = [image.replace("/", "__"), image.replace("/", "-")]
    return list(dict.fromkeys(aliases))


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


def service_environment(runner, service):
    return list(runner.get("environment", [])) + list(service.get("environment", []))


def service_command(runner, service, number, network, prefix, env_file):
    docker = runner.get("docker", {})
    command = ["docker", "run", "-d", "--name", "%s-service-%d" % (prefix, number),
               "--network", network]
    for alias in service_aliases(service):
        command += ["--network-alias", alias]
    if docker.get("privileged"):
        command.append("--privileged")
    command += environment_flags(service_environment(runner, service), env_file)
    entrypoint = service.get("entrypoint")
    if entrypoint:
        command += ["--entrypoint", entrypoint[0]]
    command.append(service["name"])
    command += list(entrypoint[1:]) if entrypoint else []
    command += list(service.get("command", []))
    return command


def job_image(runner, job):
    image = (job.get("image") or {}).get("name") or runner.get("docker", {}).get("image")
    if not image:
        raise ValueError("job %d has no image and [runners.docker] image is not set" % job["id"])
    return image


def build_container_command(runner, job, build_dir, network, prefix, env_file):
    docker = runner.get("docker", {})
    command = ["docker", "run", "--rm", "-i", "--name", prefix]
    if network:
        command += ["--network", network]
    elif docker.get("network_mode"):
        command += ["--network", docker["network_mode"]]
    if docker.get("privileged"):
        command.append("--privileged")
    for volume in docker.get("volumes", []):
        command += ["-v", volume]
    for host in docker.get("extra_hosts", []):
        command += ["--add-host", host]
    for server in docker.get("dns", []):
        command += ["--dns", server]
    command += environment_flags(environment_pairs(runner, job), env_file)
    command += ["-v", "%s:%s" % (build_dir, PROJECT_DIR), "-w", PROJECT_DIR, "--entrypoint", "sh",
                job_image(runner, job), "-s"]
    return command


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

    def _note(self, text):
        text = text if text.endswith("\n") else text + "\n"
        self.trace.append(text)
        if self.on_output is not None:
            self.on_output(text)

    def _stream(self, command, script):
        """Run the job container, passing its output on line by line; stop it at the job's timeout."""
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        timed_out = threading.Event()

        def stop():
            timed_out.set()
            subprocess.run(["docker", "rm", "-f", self.prefix], capture_output=True, check=False)
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

    def _run(self, command, **options):
        completed = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   timeout=self.timeout, **options)
        if completed.stdout:
            self._note(completed.stdout)
        return completed.returncode

    def _get_sources(self, build_dir, home):
        environment = get_sources_environment(self.runner, self.job, home)
        if self.runner.get("pre_get_sources_script"):
            self._note("Running pre_get_sources_script (on the runner host: test double)")
            status = self._run(["sh", "-ec", self.runner["pre_get_sources_script"]], env=environment, cwd=home)
            if status:
                return status
        repo_url = self.job.get("git_info", {}).get("repo_url")
        if not repo_url:
            self._note("No repository to clone")
            return 0
        self._note("Fetching changes: git clone %s" % repo_url)
        ref = self.job["git_info"].get("ref") or "main"
        return self._run(["git", "clone", "--branch", ref, repo_url, build_dir], env=environment,
                         cwd=home)

    def run(self):
        job_id = self.job["id"]
        self._note("Running with gitlab-runner TEST DOUBLE (not GitLab Runner), executor docker, job %d" % job_id)
        scratch = tempfile.mkdtemp(prefix="behindproxy-job-%d-" % job_id)
        build_dir = os.path.join(scratch, "build")
        home = os.path.join(scratch, "home")
        os.makedirs(home)
        services = job_services(self.runner, self.job)
        network = self.prefix if services else None
        started = []
        try:
            status = self._get_sources(build_dir, home)
            if status:
                return status
            os.makedirs(build_dir, exist_ok=True)
            if network:
                self._run(["docker", "network", "create", network])
            for number, service in enumerate(services):
                self._note("Starting service %s" % service["name"])
                env_file = write_private(os.path.join(scratch, "service-%d.env" % number),
                                         env_file_text(service_environment(self.runner, service)))
                command = service_command(self.runner, service, number, network, self.prefix, env_file)
                if self._run(command) == 0:
                    started.append(command[command.index("--name") + 1])
            self._note("Using docker image %s" % job_image(self.runner, self.job))
            env_file = write_private(os.path.join(scratch, "job.env"),
                                     env_file_text(environment_pairs(self.runner, self.job)))
            status = self._stream(build_container_command(self.runner, self.job, build_dir, network, self.prefix,
                                                          env_file),
                                  build_script(self.runner, self.job))
            return status
        except subprocess.TimeoutExpired:
            self._note("ERROR: job timed out after %ss" % self.timeout)
            subprocess.run(["docker", "rm", "-f", self.prefix], capture_output=True, check=False)
            return 124
        finally:
            for name in started:
                subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
            if network:
                subprocess.run(["docker", "network", "rm", network], capture_output=True, check=False)
            shutil.rmtree(scratch, ignore_errors=True)
