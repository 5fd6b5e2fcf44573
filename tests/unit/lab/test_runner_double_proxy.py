# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The double reaches GitLab through the proxy of its own environment, as the configured user."""

from __future__ import annotations

import base64
import http.server
import os
import signal
import subprocess
import threading
import time
import tomllib
import urllib.error
import urllib.request

import pytest

from conftest import RUNNER_DOUBLE, fakegitlab_server

PROXY_USER = "labuser"
PROXY_PASSWORD = "lab-proxy-password"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RecordingProxy(http.server.BaseHTTPRequestHandler):
    """A forwarding HTTP proxy that demands Basic credentials and records who asked for what."""

    protocol_version = "HTTP/1.1"
    seen = None

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        return

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        expected = "Basic " + base64.b64encode(("%s:%s" % (PROXY_USER, PROXY_PASSWORD)).encode()).decode()
        authorized = self.headers.get("Proxy-Authorization") == expected
        self.seen.append({"method": self.command, "url": self.path, "authorized": authorized})
        if not authorized:
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="lab"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {name: value for name, value in self.headers.items()
                   if name.lower() not in ("proxy-authorization", "proxy-connection", "connection", "host")}
        request = urllib.request.Request(self.path, data=body or None, method=self.command, headers=headers)
        try:
            with DIRECT.open(request, timeout=10) as response:
                status, answer_headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, payload = error.code, error.headers, error.read()
        self.send_response(status)
        for name, value in answer_headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


@pytest.fixture
def proxy():
    seen = []
    handler = type("Handler", (RecordingProxy,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def double(config, environment, *argv):
    clean = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    return subprocess.run([str(RUNNER_DOUBLE / "gitlab-runner"), *argv, "-c", str(config)], env=dict(clean, **environment),
                          capture_output=True, text=True, timeout=60, check=False)


def register_arguments(fake):
    return ["--non-interactive", "--url", fake.api_url, "--registration-token", fakegitlab_server.LAB_REGISTRATION_TOKEN,
            "--executor", "docker", "--docker-image", "busybox", "--name", "proxied"]


def test_register_goes_through_the_proxy_with_its_credentials(tmp_path, fake_gitlab, proxy):
    port, seen = proxy
    config = tmp_path / "config.toml"
    environment = {"HTTP_PROXY": "http://%s:%s@127.0.0.1:%d" % (PROXY_USER, PROXY_PASSWORD, port)}
    completed = double(config, environment, "register", *register_arguments(fake_gitlab))
    assert completed.returncode == 0, completed.stderr
    assert seen == [{"method": "POST", "url": fake_gitlab.api_url + "/api/v4/runners", "authorized": True}]
    assert [entry["user_agent"].startswith("gitlab-runner") for entry in fake_gitlab.control.request_log()] == [True]
    assert PROXY_PASSWORD not in completed.stderr + completed.stdout


def test_wrong_proxy_password_gets_407_and_writes_nothing(tmp_path, fake_gitlab, proxy):
    port, seen = proxy
    config = tmp_path / "config.toml"
    environment = {"http_proxy": "http://%s:wrong@127.0.0.1:%d" % (PROXY_USER, port)}
    completed = double(config, environment, "register", *register_arguments(fake_gitlab))
    assert completed.returncode == 1
    assert "407" in completed.stderr
    assert [entry["authorized"] for entry in seen] == [False]
    assert fake_gitlab.control.request_log() == []
    assert not config.exists()


def test_no_proxy_sends_the_request_directly(tmp_path, fake_gitlab, proxy):
    port, seen = proxy
    config = tmp_path / "config.toml"
    environment = {"HTTP_PROXY": "http://127.0.0.1:%d" % port, "NO_PROXY": "127.0.0.1"}
    completed = double(config, environment, "register", *register_arguments(fake_gitlab))
    assert completed.returncode == 0, completed.stderr
    assert seen == []
    assert len(fake_gitlab.control.request_log()) == 1


def test_run_polls_through_the_proxy_and_stops_on_sigterm(tmp_path, fake_gitlab, proxy):
    port, seen = proxy
    config = tmp_path / "config.toml"
    assert double(config, {}, "register", *register_arguments(fake_gitlab)).returncode == 0
    document = tomllib.loads(config.read_text())
    assert document["runners"][0]["name"] == "proxied"
    clean = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    environment = dict(clean, HTTP_PROXY="http://%s:%s@127.0.0.1:%d" % (PROXY_USER, PROXY_PASSWORD, port))
    service = subprocess.Popen([str(RUNNER_DOUBLE / "gitlab-runner"), "run", "--config", str(config)], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not any(entry["url"].endswith("/api/v4/jobs/request") for entry in seen):
            assert time.monotonic() < deadline, "no jobs/request through the proxy"
            time.sleep(0.2)
    finally:
        service.send_signal(signal.SIGTERM)
        _stdout, stderr = service.communicate(timeout=20)
    assert service.returncode == 0, stderr
    assert all(entry["authorized"] for entry in seen)
    assert "All workers stopped" in stderr
    assert document["runners"][0]["token"] not in stderr
