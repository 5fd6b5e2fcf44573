# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake GitLab speaks the job protocol of the real gitlab-runner 19.4.0.

What the runner sends and expects is read from its source (the server's module
docstring names the files); these tests send what it sends and check what it
reads: the job payload (common/spec/spec.go), the trace PATCH with an inclusive
Content-Range and the 416 recovery (network/gitlab.go, patch_response.go), the
final PUT with output.checksum/bytesize and its 202 retry loop (network/trace.go),
Job-Status for cancellation, X-GitLab-Last-Update and long polling.
"""

from __future__ import annotations

import functools
import http.client
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
import zlib

import pytest

from conftest import LAB, fakegitlab_client, fakegitlab_server
from test_fakegitlab import call, create_authentication_runner, register_legacy

SERVER = fakegitlab_server
# What network/gitlab.go getFeatures and the shell and docker executors announce (a subset).
RUNNER_FEATURES = {"variables": True, "image": True, "services": True, "refspecs": True, "masking": True,
                   "trace_reset": True, "trace_checksum": True, "trace_size": True, "cancelable": True,
                   "cancel_gracefully": True, "two_phase_job_commit": True, "job_inputs": True}
RUNNER_INFO = {"name": "gitlab-runner", "version": "19.4.0", "revision": "fc1f1862", "platform": "linux",
               "architecture": "amd64", "executor": "docker", "shell": "bash", "features": RUNNER_FEATURES}


@pytest.fixture
def served_repository(bare_repository):
    """The bare repository over git's dumb HTTP protocol."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bare_repository["path"].parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield dict(bare_repository, url="http://127.0.0.1:%d/lab.git" % server.server_address[1])
    server.shutdown()
    server.server_close()


def request_job(fake, token, **fields):
    body = {"token": token, "info": RUNNER_INFO, "system_id": "s_0123456789ab"}
    body.update(fields)
    return call(fake, "POST", "/api/v4/jobs/request", body)


def take_job(fake, **spec):
    """Queue a job, have a fresh runner take it; (job id, payload, runner token)."""
    token = register_legacy(fake)["token"]
    job_id = fake.control.queue_job(**spec)
    status, _headers, payload = request_job(fake, token)
    assert status == 201 and payload["id"] == job_id
    return job_id, payload, token


def variables(payload):
    return {variable["key"]: variable for variable in payload["variables"]}


def patch_trace(fake, job, data, start):
    """PATCH like network/gitlab.go PatchTrace: Content-Range start-(start+len-1), JOB-TOKEN, debug_trace."""
    return call(fake, "PATCH", "/api/v4/jobs/%d/trace?debug_trace=false" % job["id"], raw=data,
                headers={"JOB-TOKEN": job["token"], "Content-Range": "%d-%d" % (start, start + len(data) - 1),
                         "Content-Type": "text/plain"})


def update_job(fake, job, state, trace=b"", **fields):
    """PUT like UpdateJob: info, token, state, output {checksum, bytesize}; exit_code omitted when 0."""
    body = {"info": RUNNER_INFO, "token": job["token"], "state": state,
            "checksum": "crc32:%08x" % zlib.crc32(trace),
            "output": {"checksum": "crc32:%08x" % zlib.crc32(trace), "bytesize": len(trace)}}
    body.update(fields)
    return call(fake, "PUT", "/api/v4/jobs/%d" % job["id"], body, headers={"JOB-TOKEN": job["token"]})


# --- the job payload -----------------------------------------------------------


def test_payload_carries_what_the_runner_reads(fake_gitlab, bare_repository):
    fake_gitlab.gitlab.git_repository = str(bare_repository["path"])
    _job_id, job, _token = take_job(
        fake_gitlab, script=["echo one", "echo two"], after_script=["echo after"], image="busybox:latest",
        services=[{"name": "docker:dind", "alias": "docker"}], repo_url="http://git.lab.test/lab.git",
        name="build", stage="build", timeout=600,
        credentials=[{"type": "registry", "url": "hub.lab.test", "username": "u", "password": "p"}])
    assert job["token"].startswith("glcbt-")
    assert job["allow_git_fetch"] is True
    assert job["job_info"]["name"] == "build" and job["job_info"]["stage"] == "build"
    assert job["job_info"]["project_id"] == 1 and job["job_info"]["project_name"] == "lab"
    assert job["runner_info"] == {"timeout": 600}
    assert job["git_info"] == {
        "repo_url": "http://git.lab.test/lab.git", "repo_object_format": "sha1", "ref": "main",
        "sha": bare_repository["main"], "before_sha": "0" * 40, "ref_type": "branch",
        "refspecs": ["+refs/heads/main:refs/remotes/origin/main"], "depth": 20, "protected": False}
    assert job["steps"] == [
        {"name": "script", "script": ["echo one", "echo two"], "timeout": 600, "when": "on_success",
         "allow_failure": False},
        {"name": "after_script", "script": ["echo after"], "timeout": 600, "when": "always", "allow_failure": True}]
    assert job["image"] == {"name": "busybox:latest"}
    assert job["services"] == [{"name": "docker:dind", "alias": "docker"}]
    assert job["credentials"] == [{"type": "registry", "url": "hub.lab.test", "username": "u", "password": "p"}]
    assert job["dependencies"] == [] and job["artifacts"] == [] and job["cache"] == []
    assert job["features"]["trace_sections"] is True
    assert {"script_failure", "runner_system_failure", "job_execution_timeout"} <= set(job["features"]["failure_reasons"])


def test_job_inputs_only_for_a_job_that_asks(fake_gitlab):
    _job_id, job, _token = take_job(fake_gitlab, script=["true"])
    assert "inputs" not in job
    greeting = [{"key": "greeting", "value": {"type": "string", "content": "hello", "sensitive": False}}]
    _job_id, job, _token = take_job(fake_gitlab, script=["echo ${{ job.inputs.greeting }}"], inputs=greeting)
    assert job["inputs"] == greeting


def test_payload_variables_are_gitlabs_and_leave_the_runners_own_to_it(fake_gitlab):
    _job_id, job, _token = take_job(fake_gitlab, script=["true"], variables={"CI_JOB_STAGE": "mine", "A": "1"},
                                    name="lint")
    found = variables(job)
    assert found["CI_JOB_ID"]["value"] == str(job["id"])
    assert found["CI_JOB_TOKEN"] == {"key": "CI_JOB_TOKEN", "value": job["token"], "public": False, "masked": True}
    assert found["CI_SERVER_URL"]["value"] == fake_gitlab.api_url
    assert found["CI_API_V4_URL"]["value"] == fake_gitlab.api_url + "/api/v4"
    assert found["CI_SERVER_HOST"]["value"] == "127.0.0.1"
    assert found["CI_JOB_NAME"]["value"] == "lint"
    assert found["CI_PROJECT_PATH"]["value"] == "lab/lab"
    assert found["CI_COMMIT_SHA"]["value"] == job["git_info"]["sha"]
    assert found["CI_COMMIT_REF_NAME"]["value"] == "main" and found["CI_COMMIT_BRANCH"]["value"] == "main"
    assert found["CI_REPOSITORY_URL"]["public"] is False
    # The runner sets these itself (common/build.go GetDefaultVariables, GetCITLSVariables).
    assert not {"CI_PROJECT_DIR", "CI_BUILDS_DIR", "CI_SERVER_TLS_CA_FILE", "CI_JOB_STATUS"} & set(found)
    # Job variables come after GitLab's, so they win where the job sets one.
    keys = [variable["key"] for variable in job["variables"]]
    assert keys.index("CI_JOB_STAGE") < len(keys) - 2 and keys[-2:] == ["CI_JOB_STAGE", "A"]
    assert job["variables"][-2]["value"] == "mine"


def test_ci_server_url_follows_the_proxy_headers(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    fake_gitlab.control.queue_job(["true"])
    status, _headers, job = call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": token},
                                 {"Host": "gitlab.lab.test", "X-Forwarded-Proto": "https"})
    assert status == 201
    assert variables(job)["CI_SERVER_URL"]["value"] == "https://gitlab.lab.test"
    assert variables(job)["CI_SERVER_PORT"]["value"] == "443"


def test_job_without_repository_runs_without_sources(fake_gitlab):
    _job_id, job, _token = take_job(fake_gitlab, script=["true"])
    assert job["git_info"]["repo_url"] == ""
    assert variables(job)["GIT_STRATEGY"]["value"] == "none"
    # The runner slices sha[0:8]: never shorter than a commit id.
    assert job["git_info"]["sha"] == "0" * 40


def test_job_token_goes_into_repo_url_only_for_gitlabs_own_host_or_when_asked(fake_gitlab):
    own = fake_gitlab.api_url + "/lab/lab.git"
    _job_id, job, _token = take_job(fake_gitlab, script=["true"], repo_url=own)
    parts = urllib.parse.urlsplit(job["git_info"]["repo_url"])
    assert (parts.username, parts.password) == ("gitlab-ci-token", job["token"])
    assert variables(job)["CI_REPOSITORY_URL"]["value"] == job["git_info"]["repo_url"]
    _job_id, job, _token = take_job(fake_gitlab, script=["true"], repo_url="http://git.lab.test/lab.git")
    assert job["git_info"]["repo_url"] == "http://git.lab.test/lab.git"
    _job_id, job, _token = take_job(fake_gitlab, script=["true"], repo_url="http://git.lab.test/lab.git",
                                    repo_url_credentials=True)
    assert job["git_info"]["repo_url"] == "http://gitlab-ci-token:%s@git.lab.test/lab.git" % job["token"]


def test_sha_comes_from_the_spec_the_local_repo_url_or_the_lab_repository(fake_gitlab, bare_repository):
    spec_sha = "a" * 40
    job_id = fake_gitlab.control.queue_job(["true"], sha=spec_sha)
    assert (fake_gitlab.control.job_result(job_id)["sha"], fake_gitlab.control.job_result(job_id)["sha_source"]) == (
        spec_sha, "spec")
    job_id = fake_gitlab.control.queue_job(["true"], repo_url="file://" + str(bare_repository["path"]), ref="v1",
                                           ref_type="tag")
    result = fake_gitlab.control.job_result(job_id)
    assert (result["sha"], result["sha_source"]) == (bare_repository["v1"], "repo_url")
    job_id = fake_gitlab.control.queue_job(["true"], repo_url="http://git.lab.test/lab.git")
    assert fake_gitlab.control.job_result(job_id)["sha_source"] == "unresolved"
    fake_gitlab.gitlab.git_repository = str(bare_repository["path"])
    job_id = fake_gitlab.control.queue_job(["true"], repo_url="http://git.lab.test/lab.git")
    result = fake_gitlab.control.job_result(job_id)
    assert (result["sha"], result["sha_source"]) == (bare_repository["main"], "git_repository")
    job_id = fake_gitlab.control.queue_job(["true"], repo_url="http://git.lab.test/lab.git", ref="no-such-branch")
    assert fake_gitlab.control.job_result(job_id)["sha"] == "0" * 40


def test_resolve_sha_works_on_a_repository_owned_by_someone_else(bare_repository, tmp_path, monkeypatch):
    # The lab's repository belongs to www-data and the fake runs as root: git's
    # "dubious ownership" check must not get in the way.
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")
    assert SERVER.resolve_sha(str(bare_repository["path"]), "main") == bare_repository["main"]
    assert SERVER.resolve_sha(str(tmp_path / "missing.git"), "main") is None


@pytest.mark.parametrize("spec,field", [
    ({"script": ["true"], "sha": "abc"}, "sha"),
    ({"script": ["true"], "before_sha": "A" * 40}, "before_sha"),
    ({"script": ["true"], "depth": -1}, "depth"),
    ({"script": ["true"], "ref_type": "commit"}, "ref_type"),
    ({"script": ["true"], "credentials": [{"type": "registry"}]}, "credentials"),
    ({"script": ["true"], "after_script": "echo"}, "after_script"),
    ({"script": ["true"], "final_update_202_count": -1}, "final_update_202_count"),
    ({"script": ["true"], "repo_url_credentials": "yes"}, "repo_url_credentials"),
    ({"script": ["true"], "inputs": {"greeting": "hello"}}, "inputs"),
    ({"script": ["true"], "inputs": [{"key": "greeting", "value": "hello"}]}, "inputs"),
    ({"script": ["true"], "inputs": [{"key": "", "value": {"type": "string", "content": "x"}}]}, "inputs"),
])
def test_new_job_fields_are_checked(fake_gitlab, spec, field):
    with pytest.raises(fakegitlab_client.ControlError, match=field):
        fake_gitlab.control._call("POST", "/jobs", spec)


def test_runner_info_and_features_reach_the_job_result(fake_gitlab):
    job_id, _job, _token = take_job(fake_gitlab, script=["true"])
    result = fake_gitlab.control.job_result(job_id)
    assert result["runner_info"]["version"] == "19.4.0"
    assert result["runner_info"]["features"]["trace_checksum"] is True
    assert result["system_id"] == "s_0123456789ab"


def test_authentication_runner_gets_a_manager_on_its_first_job_request(fake_gitlab):
    runner = create_authentication_runner(fake_gitlab)
    assert request_job(fake_gitlab, runner["token"], system_id="s_fresh")[0] == 204
    assert fake_gitlab.control.runners()[0]["managers"] == ["s_fresh"]


# --- jobs/request: X-GitLab-Last-Update and long polling ---------------------------


def test_job_request_sends_a_queue_version_that_changes_with_the_queue(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    status, headers, _body = request_job(fake_gitlab, token)
    first = headers["X-GitLab-Last-Update"]
    assert status == 204 and first
    assert request_job(fake_gitlab, token, last_update=first)[1]["X-GitLab-Last-Update"] == first
    fake_gitlab.control.queue_job(["true"])
    status, headers, _body = request_job(fake_gitlab, token, last_update=first)
    # Like GitLab, a job comes without a queue version: the runner keeps the one it had,
    # which is stale now, so its next request is answered at once with the new one.
    assert status == 201 and "X-GitLab-Last-Update" not in headers
    status, headers, _body = request_job(fake_gitlab, token, last_update=first)
    assert status == 204 and headers["X-GitLab-Last-Update"] != first


def test_long_polling_holds_an_unchanged_runner_until_a_job_arrives(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    fake_gitlab.control.set_long_polling(10)
    version = request_job(fake_gitlab, token)[1]["X-GitLab-Last-Update"]
    # A runner that has not seen the current version is answered at once.
    started = time.monotonic()
    assert request_job(fake_gitlab, token, last_update="stale")[0] == 204
    assert time.monotonic() - started < 2
    queued = threading.Timer(1.0, fake_gitlab.control.queue_job, args=(["true"],))
    queued.start()
    started = time.monotonic()
    status, _headers, job = request_job(fake_gitlab, token, last_update=version)
    waited = time.monotonic() - started
    queued.join()
    assert status == 201 and job["steps"][0]["script"] == ["true"]
    assert 0.8 < waited < 8
    # Meanwhile the rest of the API kept answering (the wait does not hold the lock).
    fake_gitlab.control.set_long_polling(1)
    version = request_job(fake_gitlab, token)[1]["X-GitLab-Last-Update"]
    started = time.monotonic()
    assert request_job(fake_gitlab, token, last_update=version)[0] == 204
    assert 0.8 < time.monotonic() - started < 5


# --- trace -------------------------------------------------------------------------


def test_trace_patch_takes_the_runners_inclusive_content_range(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    status, headers, _body = patch_trace(fake_gitlab, job, b"line 1\n", 0)
    assert status == 202
    assert headers["Range"] == "0-7"
    assert headers["Job-Status"] == "running"
    assert headers["X-GitLab-Trace-Update-Interval"] == "3"
    status, headers, _body = patch_trace(fake_gitlab, job, b"line 2\n", 7)
    assert (status, headers["Range"]) == (202, "0-14")
    assert fake_gitlab.control.job_result(job_id)["trace"] == "line 1\nline 2\n"


def test_trace_range_mismatch_is_416_and_the_runner_resumes_from_its_end(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    patch_trace(fake_gitlab, job, b"abcdef", 0)
    # The runner thinks it sent less (e.g. an answer was lost) and sends from 3.
    status, headers, _body = patch_trace(fake_gitlab, job, b"defgh", 3)
    assert status == 416
    assert headers["Range"] == "0-6" and headers["Job-Status"] == "running"
    # TracePatchResponse.NewOffset: the end of Range; the runner sends the rest from there.
    resume = int(headers["Range"].split("-")[1])
    assert patch_trace(fake_gitlab, job, b"defgh"[resume - 3:], resume)[0] == 202
    # Sending from beyond the end is a mismatch too.
    assert patch_trace(fake_gitlab, job, b"zz", 50)[0] == 416
    assert fake_gitlab.control.job_result(job_id)["trace"] == "abcdefgh"


def test_trace_keeps_bytes_split_inside_a_character(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    data = "grüße ✓\n".encode("utf-8")
    assert patch_trace(fake_gitlab, job, data[:3], 0)[1]["Range"] == "0-3"
    assert patch_trace(fake_gitlab, job, data[3:], 3)[1]["Range"] == "0-%d" % len(data)
    result = fake_gitlab.control.job_result(job_id)
    assert result["trace"] == "grüße ✓\n" and result["trace_bytesize"] == len(data)


def test_trace_patch_needs_content_range_and_the_job_token(fake_gitlab):
    _job_id, job, token = take_job(fake_gitlab, script=["true"])
    status, _headers, _body = call(fake_gitlab, "PATCH", "/api/v4/jobs/%d/trace" % job["id"], raw=b"x",
                                   headers={"JOB-TOKEN": job["token"]})
    assert status == 400
    status, _headers, _body = call(fake_gitlab, "PATCH", "/api/v4/jobs/%d/trace" % job["id"], raw=b"x",
                                   headers={"JOB-TOKEN": token, "Content-Range": "0-0"})
    assert status == 403
    assert call(fake_gitlab, "PATCH", "/api/v4/jobs/999/trace", raw=b"x",
                headers={"JOB-TOKEN": job["token"], "Content-Range": "0-0"})[0] == 404


def test_an_error_answer_still_reads_the_body_so_keep_alive_stays_in_step(fake_gitlab):
    address = urllib.parse.urlsplit(fake_gitlab.api_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request("PATCH", "/api/v4/jobs/999/trace", body=b"x" * 1000, headers={"Content-Range": "0-999"})
        response = connection.getresponse()
        response.read()
        assert response.status == 404
        connection.request("GET", "/-/health")
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})
    finally:
        connection.close()


# --- the final update ----------------------------------------------------------------


def test_running_update_is_a_keep_alive(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    status, headers, _body = update_job(fake_gitlab, job, "running")
    assert status == 200
    assert headers["Job-Status"] == "running" and headers["X-GitLab-Trace-Update-Interval"] == "3"
    assert fake_gitlab.control.job_result(job_id)["status"] == "running"


def test_success_without_exit_code_finishes_with_checksum_checked(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    trace = b"Job succeeded\n"
    patch_trace(fake_gitlab, job, trace, 0)
    status, headers, _body = update_job(fake_gitlab, job, "success", trace)
    assert status == 200 and headers["Job-Status"] == "success"
    result = fake_gitlab.control.wait_for_job_result(job_id, timeout=1)
    assert (result["status"], result["exit_code"], result["failure_reason"]) == ("success", 0, None)
    assert result["checksum"] == result["trace_checksum"] == "crc32:%08x" % zlib.crc32(trace)
    assert result["checksum_ok"] is True and result["bytesize"] == len(trace)
    # Once finished, the job is no longer "processing on runner": 403 with its state.
    status, headers, _body = update_job(fake_gitlab, job, "success", trace)
    assert status == 403 and headers["Job-Status"] == "success"
    assert patch_trace(fake_gitlab, job, b"late", len(trace))[0] == 403


def test_failed_update_records_exit_code_and_failure_reason(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["exit 3"])
    patch_trace(fake_gitlab, job, b"boom\n", 0)
    assert update_job(fake_gitlab, job, "failed", b"boom\n", exit_code=3, failure_reason="script_failure")[0] == 200
    result = fake_gitlab.control.job_result(job_id)
    assert (result["status"], result["exit_code"], result["failure_reason"]) == ("failed", 3, "script_failure")


def test_final_update_is_202_until_the_announced_trace_has_arrived(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    trace = b"0123456789"
    patch_trace(fake_gitlab, job, trace[:4], 0)
    status, headers, _body = update_job(fake_gitlab, job, "success", trace)
    assert status == 202 and headers["X-GitLab-Trace-Update-Interval"] == "3"
    assert fake_gitlab.control.job_result(job_id)["status"] == "running"
    # network/trace.go finalUpdate: send the rest of the trace, then the update again.
    patch_trace(fake_gitlab, job, trace[4:], 4)
    assert update_job(fake_gitlab, job, "success", trace)[0] == 200
    result = fake_gitlab.control.job_result(job_id)
    assert result["status"] == "success" and result["final_update_attempts"] == 2 and result["checksum_ok"]


def test_final_update_gives_up_waiting_for_a_trace_that_never_comes(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    answers = [update_job(fake_gitlab, job, "success", b"never sent")[0]
               for _attempt in range(SERVER.INCOMPLETE_TRACE_ACCEPTS + 1)]
    assert answers == [202] * SERVER.INCOMPLETE_TRACE_ACCEPTS + [200]
    result = fake_gitlab.control.job_result(job_id)
    assert result["status"] == "success" and result["checksum_ok"] is False


def test_a_job_can_ask_for_202_answers_to_exercise_the_runners_retry(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"], final_update_202_count=2)
    assert [update_job(fake_gitlab, job, "success")[0] for _attempt in range(3)] == [202, 202, 200]
    assert fake_gitlab.control.job_result(job_id)["status"] == "success"


# --- cancellation ----------------------------------------------------------------------


def test_graceful_cancel_is_announced_as_canceling_and_ends_canceled(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["sleep 60"])
    assert fake_gitlab.control.cancel_job(job_id) == {"id": job_id, "status": "canceling"}
    status, headers, _body = patch_trace(fake_gitlab, job, b"x", 0)
    assert status == 202 and headers["Job-Status"] == "canceling"
    assert update_job(fake_gitlab, job, "running")[1]["Job-Status"] == "canceling"
    assert update_job(fake_gitlab, job, "failed", b"x", failure_reason="script_failure", exit_code=143)[0] == 200
    result = fake_gitlab.control.wait_for_job_result(job_id, timeout=1)
    assert (result["status"], result["exit_code"]) == ("canceled", 143)


def test_hard_cancel_makes_the_runner_abort(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    job_id = fake_gitlab.control.queue_job(["sleep 60"])
    job = request_job(fake_gitlab, token, info={"features": {"cancelable": True}})[2]
    assert fake_gitlab.control.cancel_job(job_id)["status"] == "canceled"
    # remote_job_state_response.go IsFailed: Job-Status canceled (or any 403) aborts the job.
    status, headers, _body = patch_trace(fake_gitlab, job, b"x", 0)
    assert status == 403 and headers["Job-Status"] == "canceled"
    assert fake_gitlab.control.wait_for_job_result(job_id, timeout=1)["status"] == "canceled"
    with pytest.raises(fakegitlab_client.ControlError, match="already canceled"):
        fake_gitlab.control.cancel_job(job_id)


def test_a_canceled_pending_job_is_never_handed_out(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    job_id = fake_gitlab.control.queue_job(["true"])
    assert fake_gitlab.control.cancel_job(job_id)["status"] == "canceled"
    assert request_job(fake_gitlab, token)[0] == 204


# --- runner endpoints the real runner also calls ------------------------------------------


def test_reset_token_with_a_personal_access_token(fake_gitlab):
    credentials = register_legacy(fake_gitlab)
    path = "/api/v4/runners/%d/reset_authentication_token" % credentials["id"]
    status, _headers, rotated = call(fake_gitlab, "POST", path, {},
                                     {"PRIVATE-TOKEN": SERVER.LAB_PERSONAL_ACCESS_TOKEN})
    assert status == 201 and set(rotated) == {"token", "token_expires_at"}
    assert rotated["token"] != credentials["token"]
    assert call(fake_gitlab, "POST", path, {}, {"PRIVATE-TOKEN": "glpat-unknown"})[0] == 401
    fake_gitlab.control.add_personal_access_token("glpat-create-only", scopes=["create_runner"])
    assert call(fake_gitlab, "POST", path, {}, {"PRIVATE-TOKEN": "glpat-create-only"})[0] == 403
    assert call(fake_gitlab, "POST", "/api/v4/runners/999/reset_authentication_token", {},
                {"PRIVATE-TOKEN": SERVER.LAB_PERSONAL_ACCESS_TOKEN})[0] == 404


def test_job_router_discovery_says_not_implemented(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    assert call(fake_gitlab, "GET", "/api/v4/runners/router/discovery", headers={"RUNNER-TOKEN": token})[0] == 501
    # GitLab authenticates the Runner-Token header first.
    assert call(fake_gitlab, "GET", "/api/v4/runners/router/discovery", headers={"RUNNER-TOKEN": "glrt-no"})[0] == 403
    assert call(fake_gitlab, "GET", "/api/v4/runners/router/discovery")[0] == 403


def test_token_expiry_is_what_the_runner_rotates_at_three_quarters_of(fake_gitlab):
    fake_gitlab.control.set_token_lifetime(3600)
    before = time.time()
    credentials = register_legacy(fake_gitlab)
    expires = time.mktime(time.strptime(credentials["token_expires_at"], "%Y-%m-%dT%H:%M:%S.000Z")) - time.timezone
    # commands/multi.go nextRunnerToReset: obtained + 0.75 * (expires - obtained).
    assert 3598 <= expires - before <= 3600
    status, _headers, verified = call(fake_gitlab, "POST", "/api/v4/runners/verify",
                                      {"token": credentials["token"], "info": RUNNER_INFO})
    assert status == 200 and verified == credentials


# --- the fetch the runner's shell writes, against the payload ----------------------------------


def test_the_runners_fetch_and_checkout_commands_work_with_the_payload(fake_gitlab, served_repository, tmp_path):
    """shells/abstract.go writeRefspecFetchCmd + writeCheckoutCmd, with the payload's git_info."""
    # As in the lab: the fake resolves the ref in the bare repository the git server serves.
    fake_gitlab.gitlab.git_repository = str(served_repository["path"])
    # depth 0: git's dumb HTTP cannot fetch shallow (the lab's git-http-backend can).
    _job_id, job, _token = take_job(fake_gitlab, script=["true"], repo_url=served_repository["url"],
                                    repo_url_credentials=True, depth=0)
    git_info = job["git_info"]
    assert git_info["sha"] == served_repository["main"] and git_info["depth"] == 0
    assert urllib.parse.urlsplit(git_info["repo_url"]).username == "gitlab-ci-token"
    project = tmp_path / "builds" / "lab"
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "remote", "add", "origin", git_info["repo_url"]], check=True)
    depth = ["--depth", str(git_info["depth"])] if git_info["depth"] > 0 else []
    fetched = subprocess.run(["git", "-C", str(project), "-c", "http.userAgent=gitlab-runner 19.4.0 linux/amd64",
                              "fetch", "origin", "--no-recurse-submodules", *git_info["refspecs"], *depth, "--prune",
                              "--quiet"], check=False, capture_output=True, text=True)
    assert fetched.returncode == 0, fetched.stderr
    subprocess.run(["git", "-C", str(project), "-c", "submodule.recurse=false", "checkout", "-f", "-q",
                    git_info["sha"]], check=True)
    assert (project / "README").read_text() == "hello from the lab repository\n"


def test_server_program_takes_the_repository_and_protocol_options(tmp_path, bare_repository):
    process = subprocess.Popen(
        ["python3", str(LAB / "fakegitlab" / "server.py"), "--address", "127.0.0.1", "--http-port", "0",
         "--control-address", "127.0.0.1", "--control-port", "0", "--state-dir", str(tmp_path / "state"),
         "--git-repository", str(bare_repository["path"]), "--external-url", "https://gitlab.lab.test/",
         "--trace-update-interval", "5", "--long-poll-seconds", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ports = json.loads(process.stdout.readline())["ports"]
        control = fakegitlab_client.FakeGitLabControl("http://127.0.0.1:%d" % ports["control"])
        state = control.state()
        assert state["git_repository"] == str(bare_repository["path"])
        assert state["external_url"] == "https://gitlab.lab.test"
        assert (state["trace_update_interval"], state["long_poll_seconds"]) == (5, 2)
        job_id = control.queue_job(["true"], repo_url="http://git.lab.test/lab.git")
        assert control.job_result(job_id)["sha"] == bare_repository["main"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_a_chunked_trace_patch_is_read_whole(fake_gitlab):
    job_id, job, _token = take_job(fake_gitlab, script=["true"])
    address = urllib.parse.urlsplit(fake_gitlab.api_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request("PATCH", "/api/v4/jobs/%d/trace" % job_id, body=iter([b"hello ", b"world\n"]),
                           headers={"JOB-TOKEN": job["token"], "Content-Range": "0-11"}, encode_chunked=True)
        response = connection.getresponse()
        response.read()
        assert (response.status, response.getheader("Range")) == (202, "0-12")
        connection.request("GET", "/-/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
    assert fake_gitlab.control.job_result(job_id)["trace"] == "hello world\n"
