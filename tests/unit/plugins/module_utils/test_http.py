# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""_http.request: what a proxy receives (no Connection: close, the absolute URL, Basic credentials)."""

from __future__ import annotations

import base64
import socket
import threading

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _http


class RecordingServer:
    """Answers every request 200 "ok" and keeps the request heads it read."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]
        self.heads = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, address = self.listener.accept()
            except OSError:
                return
            with connection:
                data = b''
                while b'\r\n\r\n' not in data:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.heads.append(data.split(b'\r\n\r\n')[0].decode('latin-1').split('\r\n'))
                connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Seen: ' + address[0].encode() + b'\r\n\r\nok')

    def close(self):
        self.listener.close()


@pytest.fixture
def server():
    running = RecordingServer()
    yield running
    running.close()


def header(head, name):
    found = [line.split(':', 1)[1].strip() for line in head[1:] if line.split(':', 1)[0].lower() == name]
    return found[0] if found else None


def test_through_a_proxy_the_request_keeps_its_connection_and_names_the_absolute_url(server):
    status, reason, headers, body = _http.request('GET', 'http://gitlab.lab.test/api/v4/version',
                                                  proxy='http://127.0.0.1:%d' % server.port)
    assert (status, body) == (200, b'ok')
    head = server.heads[0]
    assert head[0] == 'GET http://gitlab.lab.test/api/v4/version HTTP/1.1'
    assert header(head, 'host') == 'gitlab.lab.test'
    # cntlm 0.92.3 cannot authenticate upstream for a client that sends this.
    assert header(head, 'connection') is None


def test_proxy_credentials_go_in_proxy_authorization(server):
    _http.request('POST', 'http://gitlab.lab.test/x', body=b'{}', headers={'Content-Type': 'application/json'},
                  proxy='http://svc%40corp:p%3Ass@127.0.0.1:' + str(server.port))
    head = server.heads[0]
    assert header(head, 'proxy-authorization') == 'Basic ' + base64.b64encode(b'svc@corp:p:ss').decode()
    assert 'p%3Ass' not in head[0] and 'svc' not in head[0]


def test_https_through_a_proxy_opens_a_tunnel_first(server):
    with pytest.raises(_http.HttpError):
        # The recording server answers CONNECT with 200 and then no TLS: the
        # handshake fails, after the tunnel was asked for the right host.
        _http.request('GET', 'https://gitlab.lab.test/', proxy='http://127.0.0.1:%d' % server.port, timeout=3)
    assert server.heads[0][0] == 'CONNECT gitlab.lab.test:443 HTTP/1.0'


def test_direct_requests_use_the_path(server):
    status, reason, headers, body = _http.request('GET', 'http://127.0.0.1:%d/a?b=c' % server.port)
    assert status == 200 and server.heads[0][0] == 'GET /a?b=c HTTP/1.1'
    assert header(server.heads[0], 'connection') is None


@pytest.mark.parametrize('url, proxy, words', [
    ('ftp://gitlab.lab.test/', None, 'http:// or https://'),
    ('http://gitlab.lab.test/', 'https://proxy.lab.test:3128', 'http:// URL'),
])
def test_bad_urls_are_named(url, proxy, words):
    with pytest.raises(_http.HttpError, match=words):
        _http.request('GET', url, proxy=proxy)


def test_no_answer_is_an_http_error():
    with pytest.raises(_http.HttpError):
        _http.request('GET', 'http://127.0.0.1:9/', timeout=3)
