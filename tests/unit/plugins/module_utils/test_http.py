# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""_http.request: what a proxy receives (no Connection: close, the absolute URL, Basic credentials, IPv6 in
brackets), the timeout of a whole request, and bad URLs named."""

from __future__ import annotations

import base64
import socket
import threading
import time

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _http
from loopback import stop_listening


def read_head(connection):
    """The lines of a request's head read from ``connection``, or None when the client closed first."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = connection.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b'\r\n\r\n')[0].decode('latin-1').split('\r\n')


class RecordingServer:
    """Answers every request 200 "ok" and keeps the request heads it read."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]
        self.heads = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                connection, address = self.listener.accept()
            except OSError:
                return
            with connection:
                head = read_head(connection)
                if head is None:
                    continue
                self.heads.append(head)
                connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Seen: ' + address[0].encode() + b'\r\n\r\nok')

    def close(self):
        stop_listening(self.listener, self.thread)


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
    ('ftp://gitlab.lab.test/', None, 'url must be an http:// or https:// URL, got ftp://gitlab.lab.test/'),
    ('gitlab.lab.test', None, 'url must be an http:// or https:// URL'),
    ('http://gitlab.lab.test/', 'https://svc:S3cret@proxy.lab.test:3128',
     'the proxy must be an http:// URL, got https://svc:********@proxy.lab.test:3128'),
])
def test_bad_urls_are_named(url, proxy, words):
    with pytest.raises(_http.UrlError) as raised:
        _http.request('GET', url, proxy=proxy)
    assert words in str(raised.value)


def test_no_answer_is_an_http_error():
    with pytest.raises(_http.HttpError):
        _http.request('GET', 'http://127.0.0.1:9/', timeout=3)


class TricklingServer:
    """Reads one request head, then sends ``answer`` one byte every ``interval`` seconds; keeps the heads."""

    def __init__(self, answer, interval):
        self.answer = answer
        self.interval = interval
        self.heads = []
        self.closing = threading.Event()
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        connection, dummy = self.listener.accept()
        with connection:
            head = read_head(connection)
            if head is None:
                return
            self.heads.append(head)
            for byte in self.answer:
                if self.closing.wait(self.interval):
                    return
                try:
                    connection.sendall(bytes((byte,)))
                except OSError:
                    return

    def close(self):
        self.closing.set()
        self.listener.close()


@pytest.fixture
def trickling():
    servers = []

    def start(answer, interval=0.2):
        servers.append(TricklingServer(answer, interval))
        return servers[-1]
    yield start
    for running in servers:
        running.close()


ANSWER = b'HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n' + b'x' * 20


def test_the_timeout_bounds_an_answer_that_trickles_in(trickling):
    # Each byte comes well within the timeout; the whole answer would take 12 s.
    slow = trickling(ANSWER)
    started = time.monotonic()
    with pytest.raises(_http.HttpError, match='^timed out$'):
        _http.request('GET', 'http://127.0.0.1:%d/' % slow.port, timeout=1)
    assert time.monotonic() - started < 2


def test_the_timeout_bounds_a_proxy_that_trickles_its_tunnel_answer(trickling):
    proxy = trickling(b'HTTP/1.0 200 Connection established\r\n\r\n')
    started = time.monotonic()
    with pytest.raises(_http.HttpError, match='^timed out$'):
        _http.request('GET', 'https://gitlab.lab.test/', proxy='http://127.0.0.1:%d' % proxy.port, timeout=1)
    assert time.monotonic() - started < 2
    assert proxy.heads[0][0] == 'CONNECT gitlab.lab.test:443 HTTP/1.0'


def test_an_answer_within_the_timeout_is_read_whole(trickling):
    quick = trickling(ANSWER, interval=0.001)
    assert _http.request('GET', 'http://127.0.0.1:%d/' % quick.port, timeout=5)[3] == b'x' * 20


def test_an_ipv6_gitlab_through_a_proxy_is_asked_for_in_brackets(server):
    # The recording proxy answers the CONNECT itself: 2001:db8::10 is never dialled.
    with pytest.raises(_http.HttpError):
        _http.request('GET', 'https://[2001:db8::10]/api/v4/version', proxy='http://127.0.0.1:%d' % server.port,
                      timeout=3)
    head = server.heads[0]
    assert head[0] == 'CONNECT [2001:db8::10]:443 HTTP/1.0'
    assert header(head, 'host') == '[2001:db8::10]:443'


def test_an_ipv6_gitlab_on_another_port_through_a_proxy(server):
    _http.request('GET', 'http://[2001:DB8::10]:8080/api/v4/version', proxy='http://127.0.0.1:%d' % server.port)
    head = server.heads[0]
    assert head[0] == 'GET http://[2001:db8::10]:8080/api/v4/version HTTP/1.1'
    assert header(head, 'host') == '[2001:db8::10]:8080'


def test_an_international_name_and_path_go_out_in_ascii(server):
    _http.request('GET', 'http://Bücher.example/schlüssel?q=ä', proxy='http://127.0.0.1:%d' % server.port)
    head = server.heads[0]
    assert head[0] == 'GET http://xn--bcher-kva.example/schl%C3%BCssel?q=%C3%A4 HTTP/1.1'
    assert header(head, 'host') == 'xn--bcher-kva.example'


LONG_LABEL = 'a' * 64


@pytest.mark.parametrize('url, words', [
    ('http://gitlab.lab.test:70000/', "has the port '70000': expected a port from 1 to 65535"),
    ('http://gitlab.lab.test:0/', "has the port '0': expected a port from 1 to 65535"),
    ('http://gitlab.lab.test:12ab/', "has the port '12ab'"),
    ('http://%s.lab.test/' % LONG_LABEL, "has a label of 64 characters in its host ('%s'): expected a host name"
     % LONG_LABEL),
    ('http://' + '.'.join(['a' * 60] * 5) + '/', 'has a host of 304 characters'),
    ('http://git lab.lab.test/', "contains ' ': expected a URL without spaces or control characters"),
    ('http://gitlab.lab.test\n/', "contains '\\n'"),
    ('http://git_lab!.lab.test/', "has '!' in its host 'git_lab!.lab.test'"),
    ('http://gitlab..lab.test/', 'has an empty label'),
    ('http://:8080/', 'has no host'),
    ('http://[2001:db8::10/', 'cannot be read as a URL'),
    ('http://[2001:db8::10]x/', 'has a broken IPv6 address'),
    ('http://[gitlab.lab.test]/', 'IPv6 address'),
    ('http://2001:db8::10/', "has the IPv6 address '2001:db8::10' without brackets: expected an IPv6 address in "
     "brackets, such as [2001:db8::10]"),
    ('http://gitlab.lab.test:80:80/', "has more than one ':' in 'gitlab.lab.test:80:80': expected host:port"),
])
def test_a_bad_url_is_named_with_what_is_expected(url, words):
    with pytest.raises(_http.UrlError) as raised:
        _http.request('GET', url, timeout=1)
    assert str(raised.value).startswith('url %r ' % url) and words in str(raised.value), str(raised.value)
    with pytest.raises(_http.UrlError) as raised:
        _http.request('GET', 'http://127.0.0.1:9/', proxy=url, timeout=1)
    assert str(raised.value).startswith('the proxy ')


def test_a_bad_proxy_url_is_named_without_its_password():
    with pytest.raises(_http.UrlError) as raised:
        _http.request('GET', 'http://127.0.0.1:9/', proxy='http://svc:S3cret-pass@proxy.lab.test:99999', timeout=1)
    assert 'S3cret-pass' not in str(raised.value)
    assert "proxy 'http://svc:********@proxy.lab.test:99999' has the port '99999'" in str(raised.value)
