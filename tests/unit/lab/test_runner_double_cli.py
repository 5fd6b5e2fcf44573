# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner double's CLI against the fake GitLab on loopback: register, unregister, verify, list, strictness."""

from __future__ import annotations

import datetime
import io
import json
import os
import ssl
import stat
import subprocess
import threading
import tomllib

import pytest

import gitlab_runner
import runner_config
from conftest import fakegitlab_server

REGISTRATION_TOKEN = fakegitlab_server.LAB_REGISTRATION_TOKEN


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config(tmp_path):
    return tmp_path / "gitlab-runner" / "config.toml"


def run_cli(capsys, *argv):
    status = gitlab_runner.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def register_legacy(capsys, fake, config, *extra):
    return run_cli(capsys, "register", "--non-interactive", "-c", str(config), "--url", fake.api_url,
                   "--registration-token", REGISTRATION_TOKEN, "--executor", "docker",
                   "--docker-image", "busybox:latest", *extra)


def authentication_token(fake):
    return fake.gitlab.create_user_runner({"runner_type": "instance_type"},
                                          fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN)[1]["token"]


def test_version_says_it_is_a_test_double(capsys):
    status, out, _stderr = run_cli(capsys, "--version")
    assert status == 0
    assert "TEST DOUBLE" in out and "NOT GitLab Runner" in out


def test_legacy_register_writes_a_0600_config_with_credentials(capsys, fake_gitlab, config):
    status, _stdout, err = register_legacy(capsys, fake_gitlab, config, "--name", "first", "--tag-list", "a, b",
                                           "--env", "HTTP_PROXY=http://proxy.lab.test:3128", "--locked")
    assert status == 0, err
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    runner = tomllib.loads(config.read_text())["runners"][0]
    server_runner = fake_gitlab.control.runners()[0]
    assert runner["name"] == "first"
    assert runner["token"] == server_runner["token"]
    assert runner["id"] == server_runner["id"]
    assert runner["environment"] == ["HTTP_PROXY=http://proxy.lab.test:3128"]
    assert runner["docker"]["image"] == "busybox:latest"
    assert isinstance(runner["token_obtained_at"], datetime.datetime)
    assert runner["token_expires_at"] == runner_config.ZERO_TIME
    assert server_runner["tag_list"] == ["a", "b"] and server_runner["locked"] is True
    assert server_runner["token"] not in err


def test_register_keeps_other_runners_and_mode_but_drops_comments(capsys, fake_gitlab, config):
    config.parent.mkdir()
    config.write_text('# operator comment\nconcurrent = 4\n\n[[runners]]\n  name = "kept"\n  url = "http://x"\n'
                      '  token = "t"\n  executor = "shell"\n  unknown_setting = "survives"\n')
    os.chmod(config, 0o640)
    assert register_legacy(capsys, fake_gitlab, config, "--name", "second")[0] == 0
    text = config.read_text()
    document = tomllib.loads(text)
    assert "# operator comment" not in text
    assert document["concurrent"] == 4
    assert [runner["name"] for runner in document["runners"]] == ["kept", "second"]
    assert document["runners"][0]["unknown_setting"] == "survives"
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o640


def test_authentication_token_register_only_verifies(capsys, fake_gitlab, config):
    token = authentication_token(fake_gitlab)
    status, _stdout, err = run_cli(capsys, "register", "--non-interactive", "-c", str(config), "--url", fake_gitlab.api_url,
                                   "--token", token, "--executor", "docker", "--docker-image", "busybox", "--name", "new")
    assert status == 0, err
    assert [entry["path"] for entry in fake_gitlab.control.request_log()] == ["/api/v4/runners/verify"]
    system_id = (config.parent / ".runner_system_id").read_text().strip()
    assert fake_gitlab.control.runners()[0]["managers"] == [system_id]
    assert tomllib.loads(config.read_text())["runners"][0]["token"] == token


def test_authentication_token_register_refuses_server_side_flags(capsys, fake_gitlab, config):
    token = authentication_token(fake_gitlab)
    status, _stdout, err = run_cli(capsys, "register", "--non-interactive", "-c", str(config), "--url", fake_gitlab.api_url,
                                   "--token", token, "--executor", "docker", "--docker-image", "busybox",
                                   "--tag-list", "x", "--locked")
    assert status == 1
    assert "(given: --locked, --tag-list)" in err and "specified on the GitLab server" in err
    assert not config.parent.exists()
    assert fake_gitlab.control.request_log() == []


def test_register_with_a_wrong_registration_token_fails_and_writes_nothing(capsys, fake_gitlab, config):
    status, _stdout, err = run_cli(capsys, "register", "--non-interactive", "-c", str(config), "--url", fake_gitlab.api_url,
                                   "--registration-token", "wrong", "--executor", "docker", "--docker-image", "busybox")
    assert status == 1 and "status 403" in err
    assert not config.exists()


def test_bad_env_flag_fails_before_anything_is_registered(capsys, fake_gitlab, config):
    status, _stdout, err = register_legacy(capsys, fake_gitlab, config, "--env", "NO_EQUALS_SIGN")
    assert status == 1 and "--env 'NO_EQUALS_SIGN': expected NAME=value" in err
    assert fake_gitlab.control.runners() == []
    assert not config.exists()


def test_register_warns_about_flags_it_does_not_know(capsys, fake_gitlab, config):
    status, _stdout, err = register_legacy(capsys, fake_gitlab, config, "--docker-pull-policy", "always")
    assert status == 0
    assert "--docker-pull-policy is accepted but ignored" in err


def test_unregister_by_name_deletes_a_legacy_runner(capsys, fake_gitlab, config):
    register_legacy(capsys, fake_gitlab, config, "--name", "one")
    register_legacy(capsys, fake_gitlab, config, "--name", "two")
    status, _stdout, err = run_cli(capsys, "unregister", "-c", str(config), "--name", "one")
    assert status == 0, err
    assert [runner["name"] for runner in tomllib.loads(config.read_text())["runners"]] == ["two"]
    assert [runner["description"] for runner in fake_gitlab.control.runners()] == ["two"]


def test_unregister_authentication_runner_removes_only_this_manager(capsys, fake_gitlab, config):
    token = authentication_token(fake_gitlab)
    fake_gitlab.gitlab.verify({"token": token, "system_id": "s_otherhost"})
    run_cli(capsys, "register", "--non-interactive", "-c", str(config), "--url", fake_gitlab.api_url,
            "--token", token, "--executor", "docker", "--docker-image", "busybox", "--name", "auth")
    assert run_cli(capsys, "unregister", "-c", str(config), "--token", token)[0] == 0
    assert fake_gitlab.control.runners()[0]["managers"] == ["s_otherhost"]
    assert tomllib.loads(config.read_text()).get("runners") == []


def test_unregister_all_runners(capsys, fake_gitlab, config):
    register_legacy(capsys, fake_gitlab, config, "--name", "one")
    register_legacy(capsys, fake_gitlab, config, "--name", "two")
    assert run_cli(capsys, "unregister", "-c", str(config), "--all-runners")[0] == 0
    assert fake_gitlab.control.runners() == []
    assert tomllib.loads(config.read_text())["runners"] == []


def test_unregister_unknown_name_fails_and_keeps_the_file(capsys, fake_gitlab, config):
    register_legacy(capsys, fake_gitlab, config, "--name", "one")
    before = config.read_bytes()
    status, _stdout, err = run_cli(capsys, "unregister", "-c", str(config), "--name", "nobody")
    assert status == 1 and "'nobody'" in err
    assert config.read_bytes() == before


def test_verify_reports_and_delete_removes_invalid_runners(capsys, fake_gitlab, config):
    register_legacy(capsys, fake_gitlab, config, "--name", "valid")
    register_legacy(capsys, fake_gitlab, config, "--name", "revoked")
    revoked = tomllib.loads(config.read_text())["runners"][1]["token"]
    fake_gitlab.gitlab.delete_runner({"token": revoked})
    before = config.read_bytes()
    status, _stdout, err = run_cli(capsys, "verify", "-c", str(config))
    assert status == 0
    assert "is valid" in err and "is removed" in err
    assert config.read_bytes() == before
    status, _stdout, err = run_cli(capsys, "verify", "--delete", "-c", str(config))
    assert status == 0 and "Updated" in err
    assert [runner["name"] for runner in tomllib.loads(config.read_text())["runners"]] == ["valid"]
    assert revoked not in err


def test_verify_delete_keeps_runners_when_gitlab_only_rate_limits(capsys, fake_gitlab, config):
    register_legacy(capsys, fake_gitlab, config, "--name", "valid")
    before = config.read_bytes()
    fake_gitlab.control.set_rate_limit(1, mode="none")
    status, _stdout, err = run_cli(capsys, "verify", "--delete", "-c", str(config))
    assert status == 0
    assert "Verifying runner... failed" in err and "status=429" in err
    assert config.read_bytes() == before


def test_registration_disabled_is_named(capsys, fake_gitlab, config):
    fake_gitlab.control.set_registration_enabled(False)
    status, _stdout, err = register_legacy(capsys, fake_gitlab, config)
    assert status == 1 and "status 410 (registration disabled)" in err


def test_list_json_has_one_object_per_runner(capsys, fake_gitlab, config):
    register_legacy(capsys, fake_gitlab, config, "--name", "one")
    token = tomllib.loads(config.read_text())["runners"][0]["token"]
    status, _stdout, err = run_cli(capsys, "list", "--log-format", "json", "-c", str(config))
    assert status == 0
    records = [json.loads(line) for line in err.splitlines()]
    runners = [record for record in records if "Executor" in record]
    assert runners == [{"Executor": "docker", "Token": token, "URL": fake_gitlab.api_url, "level": "info",
                        "msg": "one", "time": runners[0]["time"]}]
    assert records[0]["msg"] == "Listing configured runners"


def test_a_byte_order_mark_is_accepted_and_dropped_on_rewrite(capsys, fake_gitlab, config):
    config.parent.mkdir()
    config.write_bytes(b"\xef\xbb\xbfconcurrent = 2\n")
    assert register_legacy(capsys, fake_gitlab, config)[0] == 0
    assert not config.read_bytes().startswith(b"\xef\xbb\xbf")
    assert tomllib.loads(config.read_text())["concurrent"] == 2


def test_non_utf8_is_fatal_naming_the_byte(capsys, config):
    config.parent.mkdir()
    config.write_bytes(b"concurrent = 1\nname = \"\xff\"\n")
    status, _stdout, err = run_cli(capsys, "list", "-c", str(config))
    assert status == 1 and "not UTF-8 (byte 23)" in err


def test_invalid_toml_is_fatal_with_line_and_column(capsys, config):
    config.parent.mkdir()
    config.write_text('concurrent = 1\n[[runners]]\nname = "a\n')
    status, _stdout, err = run_cli(capsys, "list", "-c", str(config))
    assert status == 1
    assert "invalid TOML" in err and "line 3" in err


@pytest.mark.parametrize("text,message", [
    ('concurrent = "4"\n', "concurrent: expected integer"),
    ('[[runners]]\nname = "a"\nenvironment = "HTTP_PROXY=x"\n', "runners[0].environment: expected list of strings"),
    ('[[runners]]\nname = "a"\nenvironment = ["HTTP_PROXY"]\n', "is not NAME=value"),
    ('[[runners]]\nname = "a"\n[runners.docker]\nprivileged = "yes"\n', "runners[0].docker.privileged: expected boolean"),
    ('[[runners]]\nname = "a"\n[[runners.docker.services]]\nalias = "x"\n', "docker.services[0]"),
])
def test_type_errors_name_the_key_and_the_expected_type(text, message):
    with pytest.raises(runner_config.ConfigError) as error:
        runner_config.parse(text, "/etc/gitlab-runner/config.toml")
    assert message in str(error.value)
    assert str(error.value).startswith("/etc/gitlab-runner/config.toml: ")


def test_unknown_keys_are_reported_with_the_collections_key_list(capsys, config):
    assert runner_config.find_key_module().endswith("plugins/module_utils/_runner_config_keys.py")
    config.parent.mkdir()
    config.write_text('concurrent = 1\n[[runners]]\nname = "a"\nurl = "http://x"\ntoken = "t"\nexecutor = "docker"\n'
                      '[runners.docker]\nimgae = "busybox"\n')
    status, _stdout, err = run_cli(capsys, "list", "-c", str(config))
    assert status == 0
    assert "unknown key runners[0].docker.imgae" in err


def test_unknown_key_warnings_format_what_the_key_function_returns():
    warnings = runner_config.unknown_key_warnings({}, lambda document: ["concurent", "runners[0].enviroment"])
    assert warnings == ["config.toml: unknown key concurent (the runner ignores it silently)",
                        "config.toml: unknown key runners[0].enviroment (the runner ignores it silently)"]


def test_missing_key_module_is_reported_not_fatal(monkeypatch, tmp_path):
    monkeypatch.setattr(runner_config, "find_key_module", lambda: None)
    assert runner_config.unknown_key_report({}) == ["unknown-key report unavailable: _runner_config_keys.py not found"]


def test_system_id_is_created_once_and_kept(tmp_path):
    first = runner_config.system_id(str(tmp_path / "config.toml"))
    assert first.startswith("s_") and len(first) == 14
    assert runner_config.system_id(str(tmp_path / "config.toml")) == first
    assert stat.S_IMODE(os.stat(tmp_path / ".runner_system_id").st_mode) == 0o600


def test_service_reloads_when_the_file_changes(tmp_path):
    config = tmp_path / "config.toml"
    runner_config.save(str(config), {"concurrent": 1})
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()))
    runner_config.save(str(config), {"concurrent": 3})
    os.utime(config, ns=(0, os.stat(config).st_mtime_ns + 1_000_000))
    service.reload_if_changed()
    assert service.document["concurrent"] == 3
    config.write_text("concurrent = [\n")
    os.utime(config, ns=(0, os.stat(config).st_mtime_ns + 2_000_000))
    service.reload_if_changed()
    assert service.document["concurrent"] == 3
    assert "keeping the previous one" in service.log.stream.getvalue()


class FinishedOrNot:
    def __init__(self, alive):
        self.alive = alive

    def is_alive(self):
        return self.alive


def test_concurrent_and_runner_limit_bound_the_jobs_taken(tmp_path):
    config = tmp_path / "config.toml"
    runner_config.save(str(config), {"concurrent": 3, "runners": [
        {"name": "a", "url": "http://x", "token": "ta", "limit": 1}, {"name": "b", "url": "http://x", "token": "tb"}]})
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()))
    runner_a, runner_b = service.document["runners"]
    service.running_jobs = [("ta", FinishedOrNot(True)), ("tb", FinishedOrNot(True)), ("tb", FinishedOrNot(False))]
    assert service.free_slots() == 1
    assert service.at_limit(runner_a) is True
    assert service.at_limit(runner_b) is False
    service.running_jobs = [("ta", FinishedOrNot(False))]
    assert service.at_limit(runner_a) is False


def test_sighup_reloads_even_when_the_mtime_did_not_change(tmp_path):
    config = tmp_path / "config.toml"
    runner_config.save(str(config), {"concurrent": 1})
    service = gitlab_runner.Service(str(config), gitlab_runner.Logger(stream=io.StringIO()))
    mtime = os.stat(config).st_mtime_ns
    runner_config.save(str(config), {"concurrent": 5})
    os.utime(config, ns=(mtime, mtime))
    service.reload_if_changed()
    assert service.document["concurrent"] == 1
    service.reload_requested.set()
    service.reload_if_changed()
    assert service.document["concurrent"] == 5


@pytest.fixture
def https_fake_gitlab(tmp_path):
    """The fake GitLab's API on HTTPS with a self-signed certificate for 127.0.0.1."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "ca.pem")], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "ca.pem"), str(tmp_path / "key.pem"))
    gitlab = fakegitlab_server.FakeGitLab(str(tmp_path))
    server = fakegitlab_server.make_server(fakegitlab_server.ApiHandler, gitlab, "127.0.0.1", 0, context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "https://127.0.0.1:%d" % server.server_address[1], str(tmp_path / "ca.pem"), gitlab
    server.shutdown()
    server.server_close()


def test_tls_ca_file_is_used_for_register_and_kept_for_verify(capsys, config, https_fake_gitlab):
    url, ca_file, gitlab = https_fake_gitlab
    arguments = ["register", "--non-interactive", "-c", str(config), "--url", url, "--registration-token",
                 REGISTRATION_TOKEN, "--executor", "docker", "--docker-image", "busybox"]
    status, _stdout, err = run_cli(capsys, *arguments)
    assert status == 1 and "CERTIFICATE_VERIFY_FAILED" in err
    assert not config.exists()
    status, _stdout, err = run_cli(capsys, *arguments, "--tls-ca-file", ca_file)
    assert status == 0, err
    assert tomllib.loads(config.read_text())["runners"][0]["tls-ca-file"] == ca_file
    status, _stdout, err = run_cli(capsys, "verify", "-c", str(config))
    assert status == 0 and "is valid" in err
    assert len(gitlab.runners) == 1
