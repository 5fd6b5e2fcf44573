# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner double runs real jobs: fake GitLab on loopback, the host's Docker engine, a dumb-HTTP git repo."""

from __future__ import annotations

import functools
import http.server
import io
import subprocess
import threading
import time

import pytest

import gitlab_runner
import runner_config


@pytest.fixture
def git_repository(tmp_path):
    """A bare repository with one commit on `main`, served over git's dumb HTTP protocol."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "README").write_text("hello from the lab repository\n")
    git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@lab.test", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q", str(work)], check=True)
    subprocess.run(git + ["-C", str(work), "add", "README"], check=True)
    subprocess.run(git + ["-C", str(work), "commit", "-q", "-m", "first"], check=True)
    served = tmp_path / "served"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(served / "lab.git")], check=True)
    subprocess.run(["git", "-C", str(served / "lab.git"), "update-server-info"], check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/lab.git" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def running_double(tmp_path, fake_gitlab, job_image, monkeypatch):
    """A registered runner and `gitlab-runner run` serving it in a thread."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "etc" / "config.toml"
    credentials = fake_gitlab.gitlab.register_legacy({"token": "GR1348941lab-registration-token"})[1]
    runner_config.save(str(config), {
        "concurrent": 2,
        "check_interval": 1,
        "runners": [{
            "name": "lab", "url": fake_gitlab.api_url, "id": credentials["id"], "token": credentials["token"],
            "executor": "docker",
            "environment": ["LAB_VAR=from-runner-environment"],
            "pre_get_sources_script": "echo pre-get-sources-ran; test \"$LAB_VAR\" = from-runner-environment",
            "pre_build_script": "echo pre-build-ran",
            "post_build_script": "echo post-build-ran",
            "docker": {"image": job_image},
        }],
    })
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()))
    thread = threading.Thread(target=service.serve, daemon=True)
    thread.start()
    yield fake_gitlab
    service.stopping.set()
    thread.join(timeout=60)


def test_job_runs_in_order_with_the_runner_environment_and_clone(running_double, git_repository):
    job_id = running_double.control.queue_job(
        ["cat README", "echo \"variable: $LAB_VAR $JOB_VAR\""], variables={"JOB_VAR": "from-job"},
        repo_url=git_repository, ref="main")
    result = running_double.control.wait_for_job_result(job_id, timeout=60)
    trace = result["trace"]
    assert result["status"] == "success", trace
    assert result["exit_code"] == 0
    markers = ["pre-get-sources-ran", "git clone", "pre-build-ran", "hello from the lab repository",
               "variable: from-runner-environment from-job", "post-build-ran", "Job succeeded"]
    positions = [trace.index(marker) for marker in markers]
    assert positions == sorted(positions), trace
    assert "TEST DOUBLE" in trace


def test_failing_script_reports_its_exit_code_and_skips_the_rest(running_double):
    job_id = running_double.control.queue_job(["echo before", "exit 3", "echo never"])
    result = running_double.control.wait_for_job_result(job_id, timeout=60)
    assert (result["status"], result["exit_code"]) == ("failed", 3)
    assert "before" in result["trace"] and "\nnever" not in result["trace"]
    assert "post-build-ran" not in result["trace"]


def test_failed_clone_fails_the_job_before_the_container_starts(running_double, git_repository):
    job_id = running_double.control.queue_job(["echo should-not-run"], repo_url=git_repository + "-missing")
    result = running_double.control.wait_for_job_result(job_id, timeout=60)
    assert result["status"] == "failed"
    assert "should-not-run" not in result["trace"].replace("$ echo should-not-run", "")
    assert "pre-build-ran" not in result["trace"]


def test_service_gets_the_runner_environment_and_is_reachable_by_its_alias(running_double, job_image):
    service = {"name": job_image, "alias": "websvc",
               "command": ["sh", "-c", "mkdir -p /www && echo \"service-answer-$LAB_VAR\" > /www/index.html && httpd -f -p 8080 -h /www"]}
    job_id = running_double.control.queue_job(
        ["for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://websvc:8080/ && break; sleep 0.5; done"],
        services=[service])
    result = running_double.control.wait_for_job_result(job_id, timeout=60)
    assert result["status"] == "success", result["trace"]
    assert "service-answer-from-runner-environment" in result["trace"]
    leftovers = subprocess.run(["docker", "ps", "-a", "--filter", "name=behindproxy-job-%d-" % job_id, "-q"],
                               capture_output=True, text=True, check=True).stdout
    assert leftovers == ""


def test_job_over_its_timeout_is_stopped_and_failed(running_double):
    job_id = running_double.control.queue_job(["echo started", "sleep 60"], timeout=2)
    result = running_double.control.wait_for_job_result(job_id, timeout=30)
    assert (result["status"], result["exit_code"]) == ("failed", 124)
    assert "job timed out after 2s" in result["trace"]
    leftovers = subprocess.run(["docker", "ps", "-a", "--filter", "name=behindproxy-job-%d-" % job_id, "-q"],
                               capture_output=True, text=True, check=True).stdout
    assert leftovers == ""


def test_trace_reaches_gitlab_while_the_job_runs(running_double):
    job_id = running_double.control.queue_job(["echo first-part", "sleep 4", "echo second-part"])
    deadline = time.monotonic() + 30
    while True:
        result = running_double.control.job_result(job_id)
        if "first-part" in result["trace"].replace("$ echo first-part", ""):
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.2)
    assert result["status"] == "running"
    assert "second-part" not in result["trace"].replace("$ echo second-part", "")
    final = running_double.control.wait_for_job_result(job_id, timeout=30)
    assert final["status"] == "success"
    assert final["trace"].count("\nfirst-part\n") == 1 and "\nsecond-part\n" in final["trace"]
