# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner double's pure parts: TOML encoder, token rotation, 429 handling, Docker command building."""

from __future__ import annotations

import datetime
import email.utils
import io
import math
import os
import time
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import docker_executor
import gitlab_api
import gitlab_runner
import runner_config
import toml_writer
from conftest import fakegitlab_server

UTC = datetime.timezone.utc

# --- TOML encoder ---------------------------------------------------------------

keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
strings = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.one_of(
    st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1), st.floats(allow_nan=False), strings,
    # TOML offsets have minute resolution; tomllib returns fixed-offset timezones.
    st.datetimes(timezones=st.one_of(st.none(), st.integers(-1439, 1439).map(
        lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes))))),
    st.dates(), st.times(),
)
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=12)
documents = st.dictionaries(keys, values, max_size=6)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_encoded_documents_read_back_equal(document):
    assert tomllib.loads(toml_writer.dumps(document)) == document


def test_nan_and_infinities_round_trip():
    document = tomllib.loads(toml_writer.dumps({"a": float("nan"), "b": float("inf"), "c": float("-inf")}))
    assert math.isnan(document["a"]) and document["b"] == float("inf") and document["c"] == float("-inf")


def test_runner_document_is_written_like_the_runner_does():
    document = {"concurrent": 1, "runners": [{"name": "a", "token_obtained_at": datetime.datetime(2026, 1, 2, tzinfo=UTC),
                                             "docker": {"image": "busybox", "volumes": ["/cache"]}}]}
    assert toml_writer.dumps(document) == (
        'concurrent = 1\n\n[[runners]]\n  name = "a"\n  token_obtained_at = 2026-01-02T00:00:00Z\n\n'
        '  [runners.docker]\n    image = "busybox"\n    volumes = ["/cache"]\n')


def test_strings_needing_escapes_are_quoted_and_keys_with_dots_too():
    text = toml_writer.dumps({"a.b": 'x"y\\z\n\x01\x7f'})
    assert text == '"a.b" = "x\\"y\\\\z\\n\\u0001\\u007F"\n'


@pytest.mark.parametrize("document,message", [
    ({"a": None}, "cannot write None at a"),
    ({"a": [1, {2, 3}]}, "at a[]"),
    ({1: "x"}, "keys must be strings"),
])
def test_values_toml_cannot_hold_are_refused_with_their_place(document, message):
    with pytest.raises(toml_writer.TomlEncodeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        toml_writer.dumps(document)


# --- token rotation ---------------------------------------------------------------

T0 = datetime.datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("obtained,expires,now,due", [
    (T0, T0 + datetime.timedelta(hours=4), T0 + datetime.timedelta(hours=2, minutes=59), False),
    (T0, T0 + datetime.timedelta(hours=4), T0 + datetime.timedelta(hours=3), True),
    (T0, T0 + datetime.timedelta(seconds=8), T0 + datetime.timedelta(seconds=6), True),
    (T0, runner_config.ZERO_TIME, T0 + datetime.timedelta(days=999), False),
    (None, None, T0, False),
    (runner_config.ZERO_TIME, T0 + datetime.timedelta(hours=1), T0, True),
])
def test_rotation_is_due_at_75_percent_of_the_lifetime(obtained, expires, now, due):
    assert runner_config.rotation_due(obtained, expires, now) is due


def test_service_rotates_a_short_lived_token_and_rewrites_the_file(tmp_path, fake_gitlab):
    fake_gitlab.control.set_token_lifetime(8)
    credentials = fake_gitlab.gitlab.register_legacy({"token": fakegitlab_server.LAB_REGISTRATION_TOKEN})[1]
    obtained = datetime.datetime.now(UTC).replace(microsecond=0)
    config = tmp_path / "config.toml"
    runner_config.save(str(config), {"concurrent": 1, "runners": [{
        "name": "r", "url": fake_gitlab.api_url, "token": credentials["token"], "executor": "docker",
        "token_obtained_at": obtained, "token_expires_at": gitlab_runner.parse_expiry(credentials["token_expires_at"]),
        "custom": "kept"}]})
    clock = {"now": obtained + datetime.timedelta(seconds=5)}
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()), clock=lambda: clock["now"])
    service.rotate_tokens()
    assert tomllib.loads(config.read_text())["runners"][0]["token"] == credentials["token"]
    clock["now"] = obtained + datetime.timedelta(seconds=6)
    service.rotate_tokens()
    runner = tomllib.loads(config.read_text())["runners"][0]
    assert runner["token"] != credentials["token"]
    assert runner["token"] == fake_gitlab.control.runners()[0]["token"]
    assert runner["token_obtained_at"] == clock["now"]
    assert runner["token_expires_at"] > clock["now"]
    assert runner["custom"] == "kept"
    assert credentials["token"] not in service.log.stream.getvalue()


def test_failed_rotation_is_retried_later_not_in_a_tight_loop(tmp_path, fake_gitlab):
    obtained = datetime.datetime.now(UTC).replace(microsecond=0)
    config = tmp_path / "config.toml"
    runner_config.save(str(config), {"runners": [{
        "name": "r", "url": fake_gitlab.api_url, "token": "not-issued", "executor": "docker",
        "token_obtained_at": obtained, "token_expires_at": obtained + datetime.timedelta(seconds=8)}]})
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()),
                                    clock=lambda: obtained + datetime.timedelta(seconds=7))
    service.rotate_tokens()
    service.rotate_tokens()
    assert [entry["path"] for entry in fake_gitlab.control.request_log()] == ["/api/v4/runners/reset_authentication_token"]
    assert "Resetting runner authentication token failed" in service.log.stream.getvalue()
    assert "status=403" in service.log.stream.getvalue()


def test_rotation_picks_up_an_edit_made_since_the_last_reload(tmp_path, fake_gitlab):
    fake_gitlab.control.set_token_lifetime(8)
    credentials = fake_gitlab.gitlab.register_legacy({"token": fakegitlab_server.LAB_REGISTRATION_TOKEN})[1]
    obtained = datetime.datetime.now(UTC).replace(microsecond=0)
    config = tmp_path / "config.toml"
    runner = {"name": "r", "url": fake_gitlab.api_url, "token": credentials["token"], "executor": "docker",
              "token_obtained_at": obtained,
              "token_expires_at": gitlab_runner.parse_expiry(credentials["token_expires_at"])}
    runner_config.save(str(config), {"concurrent": 1, "runners": [runner]})
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()),
                                    clock=lambda: obtained + datetime.timedelta(seconds=7))
    runner_config.save(str(config), {"concurrent": 9, "runners": [runner]})
    os.utime(config, ns=(0, os.stat(config).st_mtime_ns + 1_000_000))
    service.rotate_tokens()
    document = tomllib.loads(config.read_text())
    assert document["concurrent"] == 9
    assert document["runners"][0]["token"] != credentials["token"]


# --- 429 handling -------------------------------------------------------------------


def test_rate_limit_wait_follows_the_reset_time_header():
    now = 1_000_000.0
    assert gitlab_api.rate_limit_wait({"RateLimit-ResetTime": email.utils.formatdate(now + 7, usegmt=True)}, now) == 7
    assert gitlab_api.rate_limit_wait({"RateLimit-ResetTime": "garbage"}, now) == gitlab_api.UNPARSABLE_RESET_WAIT
    assert gitlab_api.rate_limit_wait({"RateLimit-ResetTime": email.utils.formatdate(now - 7, usegmt=True)}, now) == 0
    assert gitlab_api.rate_limit_wait({}, now) is None


def test_client_waits_out_429s_then_succeeds(fake_gitlab):
    waits = []
    fake_gitlab.control.set_rate_limit(2, mode="reset-time", seconds=3)
    client = gitlab_api.GitLabClient(fake_gitlab.api_url, sleep=waits.append)
    response = client.register(fakegitlab_server.LAB_REGISTRATION_TOKEN, "r", [], True, False, "not_protected", 0,
                               False, "docker")
    assert response.status == 201
    assert len(waits) == 2 and all(2 <= wait <= 3 for wait in waits)


def test_client_gives_up_after_five_rounds(fake_gitlab):
    fake_gitlab.control.set_rate_limit(5, mode="invalid-reset-time")
    waits = []
    client = gitlab_api.GitLabClient(fake_gitlab.api_url, sleep=waits.append)
    with pytest.raises(gitlab_api.GaveUp, match="gave up due to rate limit"):
        client.verify("t", "s_x")
    assert waits == [gitlab_api.UNPARSABLE_RESET_WAIT] * 5


def test_client_returns_a_429_without_reset_time(fake_gitlab):
    fake_gitlab.control.set_rate_limit(1, mode="retry-after")
    client = gitlab_api.GitLabClient(fake_gitlab.api_url, sleep=pytest.fail)
    assert client.verify("t", "s_x").status == 429


# --- Docker executor planning -----------------------------------------------------------

JOB = {"id": 7, "variables": [{"key": "JOB_VAR", "value": "j"}], "steps": [{"script": ["echo 'a b'", "false"]}],
       "image": None, "git_info": {"repo_url": ""}}
RUNNER = {"url": "http://gitlab.lab.test", "environment": ["HTTP_PROXY=http://172.17.0.1:3128"],
          "pre_build_script": "echo pre", "post_build_script": "echo post",
          "docker": {"image": "busybox", "volumes": ["/cache"], "services": [{"name": "docker:24-dind", "command": ["--tls=false"]}]}}


@pytest.mark.parametrize("service,aliases", [
    ({"name": "docker:dind"}, ["docker"]),
    ({"name": "registry.lab.test:5000/tools/postgres:15"}, ["registry.lab.test__tools__postgres",
                                                            "registry.lab.test-tools-postgres"]),
    ({"name": "tools/postgres@sha256:" + "a" * 64}, ["tools__postgres", "tools-postgres"]),
    ({"name": "docker:dind", "alias": "docker, dind"}, ["docker", "dind"]),
    ({"name": "docker:24-dind", "alias": "shared-dind"}, ["docker", "shared-dind"]),
])
def test_service_aliases_are_the_derived_names_then_the_given_ones(service, aliases):
    assert docker_executor.service_aliases(service) == aliases


def test_build_script_runs_pre_build_script_job_lines_then_post_build_script():
    script = docker_executor.build_script(RUNNER, JOB)
    assert script.splitlines() == ["set -e", "echo pre", "printf '%s\\n' '$ echo '\"'\"'a b'\"'\"''", "echo 'a b'",
                                   "printf '%s\\n' '$ false'", "false", "echo post"]


def test_build_container_gets_runner_environment_then_job_variables_and_the_image():
    volumes = docker_executor.volume_flags(RUNNER, {"/cache": "behindproxy-job-7-abc-cache-1"})
    command = docker_executor.build_container_command(RUNNER, JOB, "net", "behindproxy-job-7-abc", "/s/job.env",
                                                      volumes)
    assert command[:5] == ["docker", "create", "-i", "--name", "behindproxy-job-7-abc"]
    assert ["--env-file", "/s/job.env"] == command[command.index("--env-file"):command.index("--env-file") + 2]
    assert "-e" not in command
    assert "--entrypoint" not in command, "the image's own entrypoint is kept"
    assert command[-5:] == ["-w", "/builds/lab", "busybox", "sh", "-s"]
    assert ["--network", "net"] == command[command.index("--network"):command.index("--network") + 2]
    assert "behindproxy-job-7-abc-cache-1:/cache" in command
    lines = docker_executor.env_file_text(docker_executor.environment_pairs(RUNNER, JOB)).splitlines()
    assert lines[:2] == ["HTTP_PROXY=http://172.17.0.1:3128", "JOB_VAR=j"]
    assert "CI_JOB_ID=7" in lines


def test_a_job_image_entrypoint_replaces_the_images_and_gets_the_shell_after_its_arguments():
    job = dict(JOB, image={"name": "docker:cli", "entrypoint": ["/bin/sh", "-c", "exec \"$@\"", "--"]})
    command = docker_executor.build_container_command(RUNNER, job, None, "p", "/s/job.env", [])
    assert command[command.index("--entrypoint"):] == ["--entrypoint", "/bin/sh", "docker:cli", "-c", "exec \"$@\"",
                                                       "--", "sh", "-s"]


def test_multiline_values_cannot_go_in_an_env_file_and_are_passed_inline():
    pairs = ["ONE=line", "MANY=first\nsecond"]
    assert docker_executor.env_file_text(pairs) == "ONE=line\n"
    assert docker_executor.environment_flags(pairs, "/s/e.env") == ["--env-file", "/s/e.env", "-e", "MANY=first\nsecond"]


def test_job_image_overrides_the_runner_image_and_none_at_all_is_an_error():
    assert docker_executor.job_image(RUNNER, dict(JOB, image={"name": "alpine"})) == "alpine"
    with pytest.raises(ValueError, match="job 7 has no image"):
        docker_executor.job_image({"docker": {}}, JOB)


def test_configured_services_get_every_job_variable_their_own_and_their_command():
    services = docker_executor.job_services(RUNNER, JOB)
    command = docker_executor.service_command(RUNNER, JOB, services[0], 0, "net", "behindproxy-job-7-abc",
                                              "/s/service-0.env", [])
    assert command[:6] == ["docker", "run", "-d", "--name", "behindproxy-job-7-abc-service-0", "--network"]
    assert ["--network-alias", "docker"] == command[command.index("--network-alias"):command.index("--network-alias") + 2]
    assert "--env-file" in command and not any("HTTP_PROXY" in argument for argument in command)
    assert "--privileged" not in command
    assert docker_executor.service_environment(RUNNER, JOB, services[0]) == \
        docker_executor.environment_pairs(RUNNER, JOB)
    assert command[-2:] == ["docker:24-dind", "--tls=false"]


# --- trace streaming ----------------------------------------------------------------------


class RecordingClient:
    def __init__(self, statuses=None):
        self.calls = []
        self.statuses = list(statuses or [])

    def append_trace(self, job_id, job_token, offset, text):
        self.calls.append((job_id, job_token, offset, text))
        return gitlab_api.ApiResponse(self.statuses.pop(0) if self.statuses else 202, {}, b"")


def test_trace_is_sent_periodically_with_byte_offsets_and_the_rest_at_the_end():
    client = RecordingClient()
    sender = gitlab_runner.TraceSender(client, {"id": 3, "token": "job-token"}, interval=0.05)
    sender.start()
    sender.add("héllo\n")
    deadline = time.monotonic() + 5
    while not client.calls:
        assert time.monotonic() < deadline, "no periodic trace update"
        time.sleep(0.01)
    sender.add("later\n")
    sender.finish()
    assert client.calls == [(3, "job-token", 0, "héllo\n"), (3, "job-token", 7, "later\n")]


def test_a_refused_trace_update_is_kept_and_reported_at_the_end():
    client = RecordingClient(statuses=[416, 416])
    sender = gitlab_runner.TraceSender(client, {"id": 3, "token": "job-token"}, interval=60)
    sender.add("kept\n")
    with pytest.raises(gitlab_runner.TraceRejected, match="416"):
        sender.flush()
    assert sender.pending == "kept\n"
    with pytest.raises(gitlab_runner.TraceRejected, match="416"):
        sender.finish()
