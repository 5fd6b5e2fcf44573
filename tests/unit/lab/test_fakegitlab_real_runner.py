# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NEEDS THE REAL gitlab-runner BINARY: the fake GitLab served to the real runner 19.4.0.

Everything runs on 127.0.0.1: the fake GitLab as the lab starts it (its own
program, HTTP and HTTPS ports and a control port), the real runner with the shell
executor in a temporary directory (no Docker), a git repository as a file://
URL. The runner is found through $BEHINDPROXY_RUNNER_BINARY, else in the cache
tests/lab/runner/build-runner fills ($BEHINDPROXY_RUNNER_CACHE, by default
/var/cache/behindproxy/gitlab-runner/<module version>/bin/gitlab-runner). Without
it these tests FAIL, saying so: they are never skipped.

What they show: register (authentication token and registration token),
verify, list, reset-token and unregister; HTTPS with the runner's
--tls-ca-file; jobs run to success and to failure with their exit code, the
trace arriving whole with the checksum the runner computed; a graceful cancel
(after_script runs) and a job timeout; job inputs, with the build's stand-in
refusing a ${{ }} template; and the runner rotating its own short-lived token,
rewriting config.toml, after which only the new token is accepted. About 25 s
on two cores, most of it the cancel, the timeout and the rotation, which wait
for the runner.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request

import pytest

from conftest import LAB, fakegitlab_client, fakegitlab_server

RUNNER_VERSION = "19.4.0"
# The runner colours its log lines; the tests read them plain.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Seconds; the runner polls GitLab every check_interval and sends its trace every update interval.
CHECK_INTERVAL = 1
TRACE_UPDATE_INTERVAL = 1
JOB_TIMEOUT = 90


def runner_module_version():
    """build-runner's one pin: the require of the runner module in its build module's go.mod."""
    for go_mod in sorted((LAB / "runner").glob("*/go.mod")):
        pin = re.search(r"^\s*gitlab\.com/gitlab-org/gitlab-runner\s+(\S+)", go_mod.read_text(), re.MULTILINE)
        if pin:
            return pin.group(1)
    raise AssertionError("no go.mod under %s requires gitlab.com/gitlab-org/gitlab-runner" % (LAB / "runner"))


def runner_binary():
    """The real runner: $BEHINDPROXY_RUNNER_BINARY, else bin/gitlab-runner in build-runner's cache."""
    configured = os.environ.get("BEHINDPROXY_RUNNER_BINARY")
    if configured:
        return pathlib.Path(configured)
    cache = os.environ.get("BEHINDPROXY_RUNNER_CACHE")
    if not cache:
        cache = "/var/cache/behindproxy/gitlab-runner/" + runner_module_version()
    return pathlib.Path(cache) / "bin" / "gitlab-runner"


@pytest.fixture(scope="module")
def binary():
    path = runner_binary()
    if not os.access(path, os.X_OK):
        pytest.fail("these tests need the real gitlab-runner %s: no executable at %s (build it with "
                    "tests/lab/runner/build-runner, or set BEHINDPROXY_RUNNER_BINARY)" % (RUNNER_VERSION, path))
    version = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout
    assert "Version:      %s" % RUNNER_VERSION in version, version
    return path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: the fake's HTTPS port, and the runner's --tls-ca-file."""
    directory = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(directory / "key.pem"),
                    "-out", str(directory / "cert.pem")], check=True, capture_output=True)
    return directory


@pytest.fixture
def fake(tmp_path, certificate):
    """The fake GitLab as its own program on loopback, as the lab runs it (HTTP and HTTPS ports)."""
    with open(tmp_path / "fakegitlab.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(LAB / "fakegitlab" / "server.py"), "--address", "127.0.0.1", "--http-port", "0",
             "--https-port", "0", "--cert", str(certificate / "cert.pem"), "--key", str(certificate / "key.pem"),
             "--control-address", "127.0.0.1", "--control-port", "0", "--state-dir", str(tmp_path / "fakegitlab"),
             "--git-repository", str(tmp_path / "no-lab-repository"),
             "--trace-update-interval", str(TRACE_UPDATE_INTERVAL)],
            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        ports = json.loads(process.stdout.readline())["ports"]
        yield FakeGitLab(*("%s://127.0.0.1:%d" % (scheme, ports[port])
                           for scheme, port in (("http", "http"), ("https", "https"), ("http", "control"))))
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


class FakeGitLab:
    def __init__(self, api_url, https_url, control_url):
        self.api_url = api_url
        self.https_url = https_url
        self.control = fakegitlab_client.FakeGitLabControl(control_url)

    def call(self, method, path, body=None, headers=None):
        """(status, JSON answer) of one API call."""
        request = urllib.request.Request(self.api_url + path, data=None if body is None else json.dumps(body).encode(),
                                         method=method, headers=dict(headers or {}, **{"Content-Type": "application/json"}))
        try:
            with DIRECT.open(request, timeout=10) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as error:
            payload = error.read()
            return error.code, json.loads(payload) if payload else None

    def create_runner(self):
        """A runner made in GitLab's UI/API: its glrt- authentication token."""
        status, created = self.call("POST", "/api/v4/user/runners", {"runner_type": "instance_type"},
                                    {"PRIVATE-TOKEN": fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN})
        assert status == 201
        return created

    def requests(self, method, path):
        return [entry for entry in self.control.request_log() if (entry["method"], entry["path"]) == (method, path)]


class Runner:
    """The real runner's CLI on one config.toml in a temporary directory (tokens go in through the environment)."""

    def __init__(self, binary, directory):
        self.binary = binary
        self.directory = directory
        self.config = directory / "config.toml"
        directory.mkdir()
        # Written before register, which adds its [[runners]] to it.
        self.config.write_text("concurrent = 1\ncheck_interval = %d\n" % CHECK_INTERVAL)
        self.environment = {"PATH": os.environ["PATH"], "HOME": str(directory), "LANG": "C.UTF-8"}

    def __call__(self, *arguments, secrets=None, check=True):
        completed = subprocess.run([str(self.binary), *arguments], cwd=self.directory, capture_output=True, text=True,
                                   env=dict(self.environment, **(secrets or {})), timeout=60, check=False)
        completed.stderr = ANSI_ESCAPE.sub("", completed.stderr)
        if check and completed.returncode != 0:
            raise AssertionError("gitlab-runner %s -> %d\n%s" % (arguments[0], completed.returncode, completed.stderr))
        return completed

    def register(self, url, *options, secrets, check=True):
        return self("register", "--non-interactive", "--config", str(self.config), "--url", url,
                    "--executor", "shell", "--builds-dir", str(self.directory / "builds"),
                    "--cache-dir", str(self.directory / "cache"), *options, secrets=secrets, check=check)

    def runners(self):
        return tomllib.loads(self.config.read_text()).get("runners", [])

    def system_id(self):
        return (self.directory / ".runner_system_id").read_text().strip()

    @contextlib.contextmanager
    def running(self):
        """`gitlab-runner run` on the config; stopped (SIGQUIT: finish the job first) on the way out."""
        with open(self.directory / "run.log", "wb") as log:
            process = subprocess.Popen([str(self.binary), "run", "--config", str(self.config), "--working-directory",
                                        str(self.directory)], cwd=self.directory, env=self.environment, stdout=log,
                                       stderr=subprocess.STDOUT)
            try:
                yield process
            finally:
                process.send_signal(signal.SIGQUIT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def run_log(self):
        return (self.directory / "run.log").read_text(errors="replace")


@pytest.fixture
def runner(binary, tmp_path):
    return Runner(binary, tmp_path / "runner")


@pytest.fixture
def repository(bare_repository):
    """The bare repository, given to jobs as a file:// URL (the fake resolves the ref in it)."""
    return {"url": "file://%s" % bare_repository["path"], "sha": bare_repository["main"]}


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.25)


# --- register, verify, list, unregister ----------------------------------------


def test_authentication_token_register_verify_list_unregister(fake, runner):
    created = fake.create_runner()
    completed = runner.register(fake.api_url, "--description", "lab-real", secrets={"CI_SERVER_TOKEN": created["token"]})
    assert "Verifying runner... is valid" in completed.stderr
    [entry] = runner.runners()
    assert (entry["id"], entry["token"], entry["url"], entry["executor"]) == (
        created["id"], created["token"], fake.api_url, "shell")
    assert "token_expires_at" not in entry or entry["token_expires_at"].year == 1
    # The runner announced its own system id, and GitLab made it a runner manager.
    [state] = fake.control.runners()
    assert state["managers"] == [runner.system_id()]
    assert state["info"]["version"] == RUNNER_VERSION and state["info"]["executor"] == "shell"

    verified = runner("verify", "--config", str(runner.config))
    assert "Verifying runner... is valid" in verified.stderr
    listed = runner("list", "--config", str(runner.config))
    assert "lab-real" in listed.stderr and "Executor=shell" in listed.stderr

    unregistered = runner("unregister", "--config", str(runner.config), "--name", "lab-real")
    assert "Unregistering runner manager from GitLab succeeded" in unregistered.stderr
    assert runner.runners() == []
    # Only this machine's manager is gone; the runner and its token stay (GitLab's DELETE /runners/managers).
    assert [entry["managers"] for entry in fake.control.runners()] == [[]]
    assert [(entry["status"], entry["headers"].get("Runner-Token")) for entry in
            fake.requests("DELETE", "/api/v4/runners/managers")] == [(204, "[REDACTED]")]


def test_registration_token_register_verify_unregister(fake, runner):
    completed = runner.register(fake.api_url, "--description", "legacy", "--tag-list", "lab,shell",
                                secrets={"REGISTRATION_TOKEN": fakegitlab_server.LAB_REGISTRATION_TOKEN})
    assert "Registering runner... succeeded" in completed.stderr
    [entry] = runner.runners()
    [state] = fake.control.runners()
    assert (entry["id"], entry["token"]) == (state["id"], state["token"])
    # What the runner sends: its description, the tags as "lab,shell", locked by default, untagged jobs
    # only without tags.
    assert (state["description"], state["tag_list"], state["locked"], state["run_untagged"]) == (
        "legacy", ["lab", "shell"], True, False)

    assert "Verifying runner... is alive" in runner("verify", "--config", str(runner.config)).stderr
    # `reset-token` asks for a new token with the current one (POST /runners/reset_authentication_token).
    reset = runner("reset-token", "--config", str(runner.config), "--all-runners")
    assert "Resetting runner authentication token... succeeded" in reset.stderr
    [after_reset] = runner.runners()
    assert after_reset["token"] != entry["token"] and not after_reset["token"].startswith("glrt-")
    assert fake.control.runners()[0]["token"] == after_reset["token"]
    assert fake.call("POST", "/api/v4/runners/verify", {"token": entry["token"]})[0] == 403
    unregistered = runner("unregister", "--config", str(runner.config), "--all-runners")
    assert "Unregistering runner from GitLab succeeded" in unregistered.stderr
    assert fake.control.runners() == [] and runner.runners() == []


def test_over_https_with_the_ca_file_and_not_without(fake, runner, certificate):
    created = fake.create_runner()
    runner.register(fake.https_url, "--description", "tls", "--tls-ca-file", str(certificate / "cert.pem"),
                    secrets={"CI_SERVER_TOKEN": created["token"]})
    with runner.running():
        result = fake.control.wait_for_job_result(fake.control.queue_job(["echo over TLS"]), timeout=JOB_TIMEOUT)
    assert result["status"] == "success" and "over TLS" in result["trace"] and result["checksum_ok"] is True
    assert {entry["scheme"] for entry in fake.control.request_log() if entry["user_agent"].startswith("gitlab-runner ")
            } == {"https"}
    refused = Runner(runner.binary, runner.directory.parent / "without-ca").register(
        fake.https_url, "--description", "tls", secrets={"CI_SERVER_TOKEN": created["token"]}, check=False)
    assert refused.returncode != 0 and "certificate signed by unknown authority" in refused.stderr


def test_verify_fails_for_a_runner_gitlab_removed_and_delete_drops_it(fake, runner):
    created = fake.create_runner()
    runner.register(fake.api_url, "--description", "gone", secrets={"CI_SERVER_TOKEN": created["token"]})
    status, _body = fake.call("DELETE", "/api/v4/runners/%d" % created["id"],
                              headers={"PRIVATE-TOKEN": fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN})
    assert status == 204
    verified = runner("verify", "--config", str(runner.config), check=False)
    assert verified.returncode != 0 and "Verifying runner... is not valid" in verified.stderr
    assert len(runner.runners()) == 1
    runner("verify", "--config", str(runner.config), "--delete")
    assert runner.runners() == []


# --- jobs ----------------------------------------------------------------------


def test_jobs_run_to_success_and_to_failure_with_the_whole_trace(fake, runner, repository):
    created = fake.create_runner()
    runner.register(fake.api_url, "--description", "jobs", secrets={"CI_SERVER_TOKEN": created["token"]})
    passing = fake.control.queue_job(
        ["cat README", 'test "$CI_COMMIT_SHA" = "$(git rev-parse HEAD)" && echo checked out $CI_COMMIT_SHORT_SHA',
         "for line in $(seq 1 300); do echo trace line $line; done"],
        repo_url=repository["url"], name="passing")
    failing = fake.control.queue_job(["echo about to fail", "exit 3"], name="failing")
    with runner.running():
        results = [fake.control.wait_for_job_result(job, timeout=JOB_TIMEOUT) for job in (passing, failing)]
    passed, failed = results
    assert passed["status"] == "success", passed["trace"]
    assert passed["sha"] == repository["sha"] and passed["sha_source"] == "repo_url"
    assert "hello from the lab repository" in passed["trace"]
    assert "checked out %s" % repository["sha"][:8] in passed["trace"]
    assert "trace line 300" in passed["trace"] and "Job succeeded" in passed["trace"]
    assert failed["status"] == "failed", failed["trace"]
    assert (failed["exit_code"], failed["failure_reason"]) == (3, "script_failure")
    assert "about to fail" in failed["trace"] and "ERROR: Job failed: exit status 3" in failed["trace"]
    for result in results:
        # The checksum and size the runner computed over what it sent match what arrived.
        assert result["checksum_ok"] is True and result["bytesize"] == result["trace_bytesize"], result
        assert result["runner_info"]["version"] == RUNNER_VERSION
        assert result["system_id"] == runner.system_id()
    patches = fake.requests("PATCH", "/api/v4/jobs/%d/trace" % passing)
    assert patches and all(entry["status"] == 202 for entry in patches)
    assert all(entry["headers"].get("Job-Token") == "[REDACTED]" for entry in patches)


def test_graceful_cancel_and_job_timeout_reach_the_runner(fake, runner):
    created = fake.create_runner()
    runner.register(fake.api_url, "--description", "cancel", secrets={"CI_SERVER_TOKEN": created["token"]})
    # The script writes every second, so the runner hears Job-Status: canceling in the answer to its trace PATCH.
    ticking = fake.control.queue_job(["for i in $(seq 1 60); do echo tick $i; sleep 1; done", "echo not reached"],
                                     after_script=["echo after_script ran"])
    with runner.running():
        wait_for(lambda: "tick 2" in fake.control.job_result(ticking)["trace"], JOB_TIMEOUT, "the job to run")
        assert fake.control.cancel_job(ticking)["status"] == "canceling"
        canceled = fake.control.wait_for_job_result(ticking, timeout=JOB_TIMEOUT)
        timed_out = fake.control.wait_for_job_result(fake.control.queue_job(["sleep 60"], timeout=2),
                                                     timeout=JOB_TIMEOUT)
    assert canceled["status"] == "canceled"
    assert "after_script ran" in canceled["trace"] and "$ echo not reached" not in canceled["trace"]
    # The runner's own reason, job_canceled, is not one GitLab knows: it sends unknown_failure.
    assert canceled["failure_reason"] == "unknown_failure" and canceled["checksum_ok"] is True
    assert (timed_out["status"], timed_out["failure_reason"]) == ("failed", "job_execution_timeout")


def test_job_inputs_reach_the_runner_and_a_template_meets_the_stand_ins_refusal(fake, runner):
    created = fake.create_runner()
    runner.register(fake.api_url, "--description", "inputs", secrets={"CI_SERVER_TOKEN": created["token"]})
    greeting = [{"key": "greeting", "value": {"type": "string", "content": "hello", "sensitive": False}}]
    with runner.running():
        plain = fake.control.wait_for_job_result(fake.control.queue_job(["echo plain"], inputs=greeting),
                                                 timeout=JOB_TIMEOUT)
        template = fake.control.wait_for_job_result(
            fake.control.queue_job(["echo ${{ job.inputs.greeting }}"], inputs=greeting), timeout=JOB_TIMEOUT)
    assert plain["status"] == "success", plain["trace"]
    # This build's moa is a stand-in (tests/lab/runner/README.md): it refuses ${{ }} with its own message.
    assert template["status"] == "failed"
    assert "job input interpolation (${{ }}) is not available in this build" in template["trace"]


# --- token rotation --------------------------------------------------------------


def test_the_runner_rotates_its_short_lived_token_and_rewrites_config(fake, runner):
    lifetime = 8
    fake.control.set_token_lifetime(lifetime)
    created = fake.create_runner()
    runner.register(fake.api_url, "--description", "rotating", secrets={"CI_SERVER_TOKEN": created["token"]})
    [registered] = runner.runners()
    assert registered["token"] == created["token"]
    assert (registered["token_expires_at"] - registered["token_obtained_at"]).total_seconds() == pytest.approx(
        lifetime, abs=1.5)

    def rotated_in_config():
        try:
            return any(entry["token"] != created["token"] for entry in runner.runners())
        except tomllib.TOMLDecodeError:
            # Caught while the runner rewrites the file in place (os.WriteFile).
            return False

    with runner.running():
        wait_for(rotated_in_config, timeout=4 * lifetime, what="the runner to rewrite config.toml with a new token")
        job = fake.control.queue_job(["echo on the new token"])
        result = fake.control.wait_for_job_result(job, timeout=JOB_TIMEOUT)
    assert result["status"] == "success", result["trace"]
    # The runner may have rotated more than once by now; config.toml holds the last token.
    [rotated] = runner.runners()
    assert rotated["token"].startswith("glrt-") and rotated["id"] == created["id"]
    assert rotated["token_obtained_at"] > registered["token_obtained_at"]
    assert (rotated["token_expires_at"] - rotated["token_obtained_at"]).total_seconds() == pytest.approx(
        lifetime, abs=1.5)
    resets = fake.requests("POST", "/api/v4/runners/reset_authentication_token")
    assert resets and all(entry["status"] == 201 for entry in resets)
    # GitLab accepts the token in config.toml now and refuses the one it replaced.
    assert fake.control.runners()[0]["token"] == rotated["token"]
    assert fake.call("POST", "/api/v4/runners/verify",
                     {"token": rotated["token"], "system_id": runner.system_id()})[0] == 200
    assert fake.call("POST", "/api/v4/runners/verify",
                     {"token": created["token"], "system_id": runner.system_id()})[0] == 403
    assert "Resetting runner authentication token... succeeded" in runner.run_log()
