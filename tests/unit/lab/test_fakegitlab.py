# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake GitLab over real HTTP on loopback: runner endpoints, jobs, 429 modes, control API."""

from __future__ import annotations

import email.utils
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import LAB, fakegitlab_client, fakegitlab_server

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(fake, method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(fake.api_url + path, data=data, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with DIRECT.open(request, timeout=10) as response:
            payload = response.read()
            return response.status, response.headers, json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, error.headers, json.loads(payload) if payload else None


def register_legacy(fake, **fields):
    body = {"token": fakegitlab_server.LAB_REGISTRATION_TOKEN, "description": "r1"}
    body.update(fields)
    status, _headers, payload = call(fake, "POST", "/api/v4/runners", body)
    assert status == 201
    return payload


def create_authentication_runner(fake):
    status, _headers, payload = call(fake, "POST", "/api/v4/user/runners", {"runner_type": "instance_type"},
                                     {"PRIVATE-TOKEN": fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN})
    assert status == 201
    return payload


def test_legacy_registration_issues_a_token_that_verifies(fake_gitlab):
    credentials = register_legacy(fake_gitlab)
    assert set(credentials) == {"id", "token", "token_expires_at"}
    assert credentials["token_expires_at"] is None
    status, _headers, verified = call(fake_gitlab, "POST", "/api/v4/runners/verify",
                                      {"token": credentials["token"], "system_id": "s_host1"})
    assert status == 200
    assert verified == credentials
    # GitLab keeps runner managers for runners of registration tokens too.
    assert fake_gitlab.control.runners()[0]["managers"] == ["s_host1"]


def test_wrong_registration_token_is_forbidden(fake_gitlab):
    status, _headers, payload = call(fake_gitlab, "POST", "/api/v4/runners", {"token": "guessed"})
    assert status == 403
    assert "Forbidden" in payload["message"]


def test_registration_tokens_added_through_the_control_api_work(fake_gitlab):
    fake_gitlab.control.add_registration_token("GR1348941another")
    status, _headers, credentials = call(fake_gitlab, "POST", "/api/v4/runners", {"token": "GR1348941another"})
    assert status == 201 and credentials["token"]


def test_disabled_registration_answers_410(fake_gitlab):
    fake_gitlab.control.set_registration_enabled(False)
    status, _headers, _body = call(fake_gitlab, "POST", "/api/v4/runners", {"token": fakegitlab_server.LAB_REGISTRATION_TOKEN})
    assert status == 410


def test_only_issued_tokens_verify(fake_gitlab):
    register_legacy(fake_gitlab)
    status, _headers, _body = call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "glrt-not-issued"})
    assert status == 403


def test_user_runners_needs_a_known_personal_access_token_with_scope(fake_gitlab):
    status, _headers, _body = call(fake_gitlab, "POST", "/api/v4/user/runners", {"runner_type": "instance_type"},
                                   {"PRIVATE-TOKEN": "glpat-unknown"})
    assert status == 401
    fake_gitlab.control.add_personal_access_token("glpat-readonly", scopes=["read_api"])
    status, _headers, _body = call(fake_gitlab, "POST", "/api/v4/user/runners", {"runner_type": "instance_type"},
                                   {"PRIVATE-TOKEN": "glpat-readonly"})
    assert status == 403


def test_user_runners_checks_runner_type_and_group(fake_gitlab):
    headers = {"PRIVATE-TOKEN": fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN}
    status, _headers, payload = call(fake_gitlab, "POST", "/api/v4/user/runners", {"runner_type": "everything"}, headers)
    assert status == 400 and "runner_type" in payload["message"]
    status, _headers, payload = call(fake_gitlab, "POST", "/api/v4/user/runners", {"runner_type": "group_type"}, headers)
    assert status == 400 and "group_id" in payload["message"]


def test_verify_records_a_manager_per_system_id_and_legacy_without_one(fake_gitlab):
    runner = create_authentication_runner(fake_gitlab)
    assert runner["token"].startswith("glrt-")
    for system_id in ("s_host1", "s_host2"):
        status, _headers, _body = call(fake_gitlab, "POST", "/api/v4/runners/verify",
                                       {"token": runner["token"], "system_id": system_id})
        assert status == 200
    assert fake_gitlab.control.runners()[0]["managers"] == ["s_host1", "s_host2"]
    # GitLab counts a request without system_id for the manager "<legacy>" (it is optional in verify).
    status, _headers, verified = call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": runner["token"]})
    assert status == 200 and verified["id"] == runner["id"]
    assert fake_gitlab.control.runners()[0]["managers"] == ["s_host1", "s_host2", "<legacy>"]
    status, _headers, payload = call(fake_gitlab, "DELETE", "/api/v4/runners/managers", {"token": runner["token"]})
    assert status == 400 and "system_id" in payload["message"]
    status, _headers, _body = call(fake_gitlab, "DELETE", "/api/v4/runners/managers",
                                   {"token": runner["token"], "system_id": "s_host1"})
    assert status == 204
    assert fake_gitlab.control.runners()[0]["managers"] == ["s_host2", "<legacy>"]
    status, _headers, _body = call(fake_gitlab, "DELETE", "/api/v4/runners/managers",
                                   {"token": runner["token"], "system_id": "s_host1"})
    assert status == 404


def test_delete_runner_revokes_its_token(fake_gitlab):
    credentials = register_legacy(fake_gitlab)
    status, _headers, _body = call(fake_gitlab, "DELETE", "/api/v4/runners", {"token": credentials["token"]})
    assert status == 204
    status, _headers, _body = call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": credentials["token"]})
    assert status == 403


def test_short_lived_tokens_expire_and_reset_issues_a_new_one(fake_gitlab):
    fake_gitlab.control.set_token_lifetime(2)
    credentials = register_legacy(fake_gitlab)
    expires = time.mktime(time.strptime(credentials["token_expires_at"], "%Y-%m-%dT%H:%M:%S.000Z")) - time.timezone
    assert 0 < expires - time.time() <= 2
    status, _headers, rotated = call(fake_gitlab, "POST", "/api/v4/runners/reset_authentication_token",
                                     {"token": credentials["token"]})
    assert status == 201
    assert rotated["token"] != credentials["token"]
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": credentials["token"]})[0] == 403
    time.sleep(2.1)
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": rotated["token"]})[0] == 403


def test_job_request_is_204_until_a_job_is_queued(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    status, _headers, payload = call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": token})
    assert (status, payload) == (204, None)
    job_id = fake_gitlab.control.queue_job(["echo hello"], image="behindproxy/job:1", variables={"A": "1"},
                                           repo_url="http://git.lab.test/repo.git",
                                           services=[{"name": "docker:dind", "alias": "docker"}])
    status, _headers, job = call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": token})
    assert status == 201
    assert job["id"] == job_id
    assert job["image"] == {"name": "behindproxy/job:1"}
    assert job["steps"][0]["script"] == ["echo hello"]
    assert {"key": "A", "value": "1", "public": True, "masked": False} in job["variables"]
    assert job["git_info"]["repo_url"] == "http://git.lab.test/repo.git"
    assert job["services"] == [{"name": "docker:dind", "alias": "docker"}]
    assert call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": token})[0] == 204


def test_tagged_jobs_go_only_to_runners_with_those_tags(fake_gitlab):
    untagged = register_legacy(fake_gitlab)["token"]
    tagged = register_legacy(fake_gitlab, tag_list="docker, proxy")["token"]
    fake_gitlab.control.queue_job(["true"], tags=["proxy"])
    assert call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": untagged})[0] == 204
    assert call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": tagged})[0] == 201


def test_trace_and_final_state_reach_the_job_result(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    job_id = fake_gitlab.control.queue_job(["exit 3"])
    job = call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": token})[2]
    status, headers, _body = call(fake_gitlab, "PATCH", "/api/v4/jobs/%d/trace" % job_id, raw=b"line 1\n",
                                  headers={"JOB-TOKEN": job["token"], "Content-Range": "0-7"})
    assert status == 202 and headers["Range"] == "0-7"
    status, _headers, _body = call(fake_gitlab, "PATCH", "/api/v4/jobs/%d/trace" % job_id, raw=b"again\n",
                                   headers={"JOB-TOKEN": job["token"], "Content-Range": "0-6"})
    assert status == 416
    status, _headers, _body = call(fake_gitlab, "PUT", "/api/v4/jobs/%d" % job_id,
                                   {"token": job["token"], "state": "failed", "exit_code": 3, "failure_reason": "script_failure"})
    assert status == 200
    result = fake_gitlab.control.wait_for_job_result(job_id, timeout=1)
    assert result["status"] == "failed"
    assert result["exit_code"] == 3
    assert result["trace"] == "line 1\n"


def test_job_update_needs_the_job_token(fake_gitlab):
    token = register_legacy(fake_gitlab)["token"]
    job_id = fake_gitlab.control.queue_job(["true"])
    call(fake_gitlab, "POST", "/api/v4/jobs/request", {"token": token})
    status, _headers, _body = call(fake_gitlab, "PUT", "/api/v4/jobs/%d" % job_id, {"token": token, "state": "success"})
    assert status == 403


def test_wait_for_job_result_times_out_naming_the_state(fake_gitlab):
    job_id = fake_gitlab.control.queue_job(["true"])
    with pytest.raises(TimeoutError, match="still pending"):
        fake_gitlab.control.wait_for_job_result(job_id, timeout=0.2, interval=0.05)


@pytest.mark.parametrize("mode,header,check", [
    ("reset-time", "RateLimit-ResetTime",
     lambda value: 0 < email.utils.parsedate_to_datetime(value).timestamp() - time.time() <= 5),
    ("invalid-reset-time", "RateLimit-ResetTime", lambda value: value == "not-a-date"),
    ("retry-after", "Retry-After", lambda value: value == "5"),
])
def test_rate_limit_modes_send_their_header_for_n_requests(fake_gitlab, mode, header, check):
    fake_gitlab.control.set_rate_limit(2, mode=mode, seconds=5)
    for _attempt in range(2):
        status, headers, _body = call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "x"})
        assert status == 429
        assert check(headers[header])
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "x"})[0] == 403


def test_a_rate_limit_may_answer_a_5xx_status(fake_gitlab):
    fake_gitlab.control.set_rate_limit(1, mode="retry-after", seconds=3, status=503)
    status, headers, body = call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "x"})
    assert status == 503 and headers["Retry-After"] == "3"
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "x"})[0] == 403


def test_rate_limit_mode_none_sends_no_reset_header(fake_gitlab):
    fake_gitlab.control.set_rate_limit(1, mode="none")
    status, headers, _body = call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "x"})
    assert status == 429
    assert headers.get("RateLimit-ResetTime") is None and headers.get("Retry-After") is None


def test_a_rate_limit_on_some_routes_leaves_the_others_alone(fake_gitlab):
    fake_gitlab.control.set_rate_limit(1, mode="retry-after", seconds=1, routes=["register"])
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": "x"})[0] == 403
    assert call(fake_gitlab, "POST", "/api/v4/runners", {"token": "x"})[0] == 429
    assert call(fake_gitlab, "POST", "/api/v4/runners", {"token": "x"})[0] == 403


@pytest.mark.parametrize("arguments,message", [
    ({"count": 1, "mode": "none", "routes": ["nowhere"]}, "routes"),
    ({"count": -1, "mode": "none"}, "count"),
    ({"count": 1, "mode": "sometimes"}, "mode"),
    ({"count": 1, "mode": "retry-after", "seconds": "soon"}, "seconds"),
    ({"count": 1, "mode": "none", "status": 404}, "status"),
])
def test_bad_rate_limit_settings_are_refused_with_the_field_named(fake_gitlab, arguments, message):
    with pytest.raises(fakegitlab_client.ControlError, match=message):
        fake_gitlab.control._call("POST", "/rate_limit", arguments)


@pytest.mark.parametrize("spec,field", [
    ({"script": []}, "script"),
    ({"script": ["true"], "variables": {"A": 1}}, "variables"),
    ({"script": ["true"], "services": [{"alias": "x"}]}, "services"),
    ({"script": ["true"], "image": 5}, "image"),
    ({"script": ["true"], "timeout": 0}, "timeout"),
])
def test_bad_job_specs_are_refused_with_the_field_named(fake_gitlab, spec, field):
    with pytest.raises(fakegitlab_client.ControlError, match=field):
        fake_gitlab.control._call("POST", "/jobs", spec)


def test_request_log_records_client_and_user_agent_but_no_tokens(fake_gitlab):
    call(fake_gitlab, "POST", "/api/v4/user/runners", {"runner_type": "instance_type"},
         {"PRIVATE-TOKEN": fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN, "User-Agent": "lab-test/1"})
    log = fake_gitlab.control.request_log()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("POST", "/api/v4/user/runners", 201)]
    assert log[0]["client"] == "127.0.0.1"
    assert log[0]["forwarded_for"] == ""
    assert log[0]["user_agent"] == "lab-test/1"
    assert fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN not in json.dumps(log)
    call(fake_gitlab, "GET", "/api/v4/nothing")
    assert [entry["status"] for entry in fake_gitlab.control.request_log(since=log[0]["seq"])] == [404]


def test_request_log_keeps_the_forwarded_for_address(fake_gitlab):
    call(fake_gitlab, "GET", "/-/health", headers={"X-Forwarded-For": "192.0.2.7"})
    assert fake_gitlab.control.request_log()[-1]["forwarded_for"] == "192.0.2.7"


def test_state_survives_a_restart(tmp_path):
    gitlab = fakegitlab_server.FakeGitLab(str(tmp_path))
    status, credentials = gitlab.register_legacy({"token": fakegitlab_server.LAB_REGISTRATION_TOKEN})
    assert os.stat(tmp_path / "state.json").st_mode & 0o077 == 0
    restarted = fakegitlab_server.FakeGitLab(str(tmp_path))
    restarted.load()
    assert restarted.verify({"token": credentials["token"]})[1]["id"] == credentials["id"]


def test_server_program_starts_and_reports_its_ports(tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(LAB / "fakegitlab" / "server.py"), "--address", "127.0.0.1", "--http-port", "0",
         "--control-address", "127.0.0.1", "--control-port", "0", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        announced = json.loads(process.stdout.readline())
        assert announced["registration_token"] == fakegitlab_server.LAB_REGISTRATION_TOKEN
        control = fakegitlab_client.FakeGitLabControl("http://127.0.0.1:%d" % announced["ports"]["control"])
        assert control.state()["registration_tokens"] == [fakegitlab_server.LAB_REGISTRATION_TOKEN]
        assert json.loads((tmp_path / "state" / "ports.json").read_text()) == announced["ports"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_https_port_serves_the_api_with_the_given_certificate(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, str(LAB / "fakegitlab" / "server.py"), "--address", "127.0.0.1", "--http-port", "0",
         "--https-port", "0", "--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem"),
         "--control-address", "127.0.0.1", "--control-port", "0", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ports = json.loads(process.stdout.readline())["ports"]
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
        with opener.open("https://127.0.0.1:%d/-/health" % ports["https"], timeout=10) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        log = fakegitlab_client.FakeGitLabControl("http://127.0.0.1:%d" % ports["control"]).request_log()
        assert [(entry["scheme"], entry["path"]) for entry in log] == [("https", "/-/health")]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_a_stalled_tls_client_does_not_block_others(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    gitlab = fakegitlab_server.FakeGitLab(str(tmp_path))
    server = fakegitlab_server.make_server(fakegitlab_server.ApiHandler, gitlab, "127.0.0.1", 0, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address, timeout=5):
            client_context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                 urllib.request.HTTPSHandler(context=client_context))
            with opener.open("https://127.0.0.1:%d/-/health" % server.server_address[1], timeout=5) as response:
                assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
