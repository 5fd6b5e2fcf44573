# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The GitLab client's waiting rules against a scripted HTTP server, on a fake clock (nothing sleeps);
its choice of proxy against a table made with Go's httpproxy; bad URLs."""

from __future__ import annotations

import email.utils
import json
import pathlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _gitlab_api
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._gitlab_api import (
    Backoff,
    GitLabApiError,
    GitLabClient,
    RateLimitError,
    bypasses_proxy,
    choose_proxy,
    proxy_from_environment,
)
from loopback import stop_listening

NOW = 1_800_000_000.0


class FakeClock:
    """time.time and time.sleep for the client: sleeping only moves the clock on."""

    def __init__(self, now=NOW):
        self.now = now
        self.sleeps = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body) and records the requests."""

    def __init__(self):
        self.script = []
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                server.requests.append({'method': self.command, 'path': self.path, 'headers': dict(self.headers),
                                        'body': json.loads(body) if body else None})
                status, headers, payload = server.script.pop(0) if server.script else (200, {}, {'ok': True})
                data = json.dumps(payload).encode() if payload is not None else b''
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


@pytest.fixture
def clock():
    return FakeClock()


def client_for(server, clock, **kwargs):
    kwargs.setdefault('random_fraction', lambda: 0.5)
    return GitLabClient(server.url + '/', sleep=clock.sleep, clock=clock.time, environ={}, **kwargs)


def http_date(timestamp):
    return email.utils.formatdate(timestamp, usegmt=True)


def too_many(headers=None):
    return (429, headers or {}, {'message': 'Retry later'})


def test_success_is_returned_at_once_with_the_token_in_body_and_header_only(server, clock):
    server.script = [(200, {}, {'id': 7, 'token': 'glrt-abc'})]
    response = client_for(server, clock).call('POST', 'runners/verify', {'token': 'glrt-abc'}, {'Runner-Token': 'glrt-abc'})
    assert (response.status, response.data['id']) == (200, 7)
    request = server.requests[0]
    assert request['path'] == '/api/v4/runners/verify' and 'glrt-abc' not in request['path']
    assert request['body'] == {'token': 'glrt-abc'}
    assert request['headers']['Runner-Token'] == 'glrt-abc'
    assert clock.sleeps == []


def test_429_waits_until_the_reset_time(server, clock):
    server.script = [too_many({'RateLimit-ResetTime': http_date(NOW + 7)}), (201, {}, {'id': 1})]
    response = client_for(server, clock).call('POST', 'runners', {})
    assert response.status == 201
    assert clock.sleeps == [7.0]
    assert len(server.requests) == 2


def test_header_names_are_case_insensitive(server, clock):
    server.script = [too_many({'ratelimit-resettime': http_date(NOW + 3)}), too_many({'RETRY-AFTER': '4'}),
                     (200, {}, {})]
    client_for(server, clock).call('GET', 'runners/1')
    assert clock.sleeps == [3.0, 4.0]


def test_an_unparsable_reset_time_waits_a_minute(server, clock):
    server.script = [too_many({'RateLimit-ResetTime': 'not-a-date', 'Retry-After': '5'}), (200, {}, {})]
    client_for(server, clock).call('GET', 'runners/1')
    assert clock.sleeps == [60.0]


def test_retry_after_when_there_is_no_reset_time_or_it_has_passed(server, clock):
    server.script = [too_many({'Retry-After': '12'}),
                     too_many({'RateLimit-ResetTime': http_date(NOW - 100), 'Retry-After': '2'}),
                     (200, {}, {})]
    client_for(server, clock).call('GET', 'runners/1')
    assert clock.sleeps == [12.0, 2.0]


def test_without_headers_jittered_exponential_backoff(server, clock):
    server.script = [too_many(), too_many(), too_many({'Retry-After': 'soon'}), (503, {}, {}), (200, {}, {})]
    client_for(server, clock, random_fraction=lambda: 1.0).call('GET', 'runners/1')
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8])


def test_backoff_is_drawn_between_the_minimum_and_the_doubled_ceiling_and_capped():
    assert [round(Backoff(lambda: 0.0).next(), 3) for dummy in range(3)] == [0.1] * 3
    backoff = Backoff(lambda: 0.5)
    waits = [backoff.next() for dummy in range(4)]
    assert waits == pytest.approx([0.1, 0.15, 0.25, 0.45])
    highest = Backoff(lambda: 1.0)
    waits = [highest.next() for dummy in range(12)]
    assert waits[-1] == 60.0 and max(waits) == 60.0
    assert waits[9] == pytest.approx(51.2)


@pytest.mark.parametrize('status', [408, 500, 502, 503, 504, 512, 599])
def test_timeouts_and_server_errors_are_retried(server, clock, status):
    server.script = [(status, {}, {'message': 'busy'}), (200, {}, {'done': True})]
    response = client_for(server, clock).call('GET', 'runners/1')
    assert response.data == {'done': True}
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize('status', [400, 401, 403, 404, 409, 410, 422, 501, 505, 511])
def test_other_statuses_are_returned_without_retrying(server, clock, status):
    server.script = [(status, {}, {'message': 'no'})]
    response = client_for(server, clock).call('POST', 'runners', {})
    assert response.status == status and response.message == 'no'
    assert len(server.requests) == 1 and clock.sleeps == []


def test_five_attempts_then_gave_up_with_the_last_status(server, clock):
    server.script = [too_many({'Retry-After': '1'})] * 4 + [(503, {}, {'message': 'maintenance'})]
    with pytest.raises(RateLimitError) as raised:
        client_for(server, clock).call('POST', 'runners/verify', {'token': 'glrt-secret-value'})
    message = str(raised.value)
    assert 'gave up due to rate limit' in message
    assert '503' in message and 'maintenance' in message and 'POST /api/v4/runners/verify' in message
    assert 'glrt-secret-value' not in message
    assert raised.value.status == 503
    assert len(server.requests) == 5
    assert clock.sleeps == [1.0] * 4


def test_a_reset_time_beyond_max_wait_fails_at_once_saying_when_to_retry(server, clock):
    server.script = [too_many({'RateLimit-ResetTime': http_date(NOW + 3600)})]
    with pytest.raises(RateLimitError) as raised:
        client_for(server, clock, max_wait=300).call('POST', 'runners', {})
    message = str(raised.value)
    assert clock.sleeps == []
    assert 'retry after %s' % _gitlab_api.format_utc(NOW + 3600) in message
    assert 'max_wait (300 s)' in message and '429' in message


def test_max_wait_counts_every_wait_of_the_client(server, clock):
    client = client_for(server, clock, max_wait=300)
    server.script = [too_many({'Retry-After': '120'}), (200, {}, {})]
    client.call('GET', 'runners/1')
    server.script = [too_many({'Retry-After': '120'}), too_many({'Retry-After': '120'})]
    with pytest.raises(RateLimitError) as raised:
        client.call('GET', 'runners/1')
    assert clock.sleeps == [120.0, 120.0]
    assert '360.0 s spent on rate limits in all' in str(raised.value)


def test_no_answer_names_the_endpoint_and_the_route(clock):
    client = GitLabClient('http://127.0.0.1:9/', sleep=clock.sleep, clock=clock.time, environ={}, timeout=2)
    with pytest.raises(GitLabApiError) as raised:
        client.call('POST', 'runners/verify', {'token': 'glrt-xyz'})
    assert 'POST /api/v4/runners/verify: no answer from http://127.0.0.1:9 (directly)' in str(raised.value)
    assert raised.value.status is None


def test_redirects_are_not_followed(server, clock):
    server.script = [(302, {'Location': 'http://elsewhere.invalid/api/v4/runners/1'}, None)]
    response = client_for(server, clock).call('GET', 'runners/1', headers={'PRIVATE-TOKEN': 'glpat-x'})
    assert response.status == 302
    assert len(server.requests) == 1


def test_the_url_must_be_http_or_https():
    for url in ('gitlab.example.com', 'ftp://gitlab.example.com', '', None):
        with pytest.raises(GitLabApiError):
            GitLabClient(url)


def test_a_subpath_instance_keeps_its_path(server, clock):
    GitLabClient(server.url + '/gitlab/', sleep=clock.sleep, clock=clock.time, environ={}).call('GET', 'runners/3')
    assert server.requests[0]['path'] == '/gitlab/api/v4/runners/3'


# ---------------------------------------------------------------- proxy

ENVIRONMENT = {'HTTPS_PROXY': 'http://proxy.corp:3128', 'HTTP_PROXY': 'proxy.corp:8080', 'NO_PROXY': ''}


def test_the_proxy_of_the_scheme_upper_case_first():
    assert proxy_from_environment('https://gitlab.example.com/', ENVIRONMENT) == 'http://proxy.corp:3128'
    # Without a scheme, an http:// proxy (Go's reading).
    assert proxy_from_environment('http://gitlab.example.com/', ENVIRONMENT) == 'http://proxy.corp:8080'
    both = {'HTTPS_PROXY': 'http://upper:1', 'https_proxy': 'http://lower:2'}
    assert proxy_from_environment('https://gitlab.example.com/', both) == 'http://upper:1'
    assert proxy_from_environment('https://gitlab.example.com/', {'https_proxy': 'http://lower:2'}) == 'http://lower:2'
    assert proxy_from_environment('https://gitlab.example.com/', {'HTTP_PROXY': 'http://only-http:1'}) is None


@pytest.mark.parametrize('url, no_proxy, bypass', [
    ('https://localhost/', '', True),
    ('https://127.0.0.5:8443/', '', True),
    ('https://[::1]/', '', True),
    ('https://gitlab.example.com/', 'example.com', True),
    ('https://example.com/', 'example.com', True),
    ('https://example.com/', '.example.com', False),
    ('https://gitlab.example.com/', '.example.com', True),
    ('https://gitlab.example.com/', '*.example.com', True),
    ('https://example.com/', '*.example.com', False),
    ('https://notexample.com/', 'example.com', False),
    ('https://gitlab.example.com/', 'example.com:443', True),
    ('https://gitlab.example.com/', 'example.com:8443', False),
    ('https://10.1.2.3/', '10.0.0.0/8', True),
    ('https://10.1.2.3/', '10.1.2.3', True),
    ('https://10.1.2.3:8443/', '10.1.2.3:443', False),
    ('https://gitlab.example.com/', '10.0.0.0/8', False),
    ('https://GitLab.Example.COM/', ' other.org , EXAMPLE.com ', True),
    ('https://gitlab.example.com/', '*', True),
])
def test_no_proxy_follows_gos_rules(url, no_proxy, bypass):
    assert bypasses_proxy(url, no_proxy) is bypass
    environ = dict(ENVIRONMENT, no_proxy=no_proxy)
    assert (proxy_from_environment(url, environ) is None) is bypass


def test_upper_case_no_proxy_wins():
    environ = dict(ENVIRONMENT, NO_PROXY='example.com', no_proxy='other.org')
    assert proxy_from_environment('https://gitlab.example.com/', environ) is None


def test_a_given_proxy_is_used_for_everything_and_empty_means_none():
    assert choose_proxy('https://localhost/', 'http://proxy:3128', ENVIRONMENT) == 'http://proxy:3128'
    assert choose_proxy('https://gitlab.example.com/', '', ENVIRONMENT) is None
    assert choose_proxy('https://gitlab.example.com/', None, ENVIRONMENT) == 'http://proxy.corp:3128'


def test_messages_mask_the_proxy_password(clock):
    client = GitLabClient('http://gitlab.invalid/', proxy='http://svc:S3cret-pass@127.0.0.1:9', sleep=clock.sleep,
                          clock=clock.time, timeout=2)
    with pytest.raises(GitLabApiError) as raised:
        client.call('GET', 'runners/1')
    assert 'S3cret-pass' not in str(raised.value)
    assert 'through proxy http://svc:********@127.0.0.1:9' in str(raised.value)


GO_TABLE = json.loads((pathlib.Path(__file__).parents[2] / 'data' / 'go_httpproxy_no_proxy.json')
                      .read_text(encoding='utf-8'))


def go_way(no_proxy, url):
    """'direct' or 'proxy': what Go's httpproxy chose for this pair when the table was made."""
    ways = GO_TABLE['ways'][GO_TABLE['no_proxy'].index(no_proxy)]
    return {'d': 'direct', 'p': 'proxy'}[ways[GO_TABLE['urls'].index(url)]]


def test_no_proxy_decides_as_gos_httpproxy_for_every_pair_of_the_table():
    differences = []
    for no_proxy, ways in zip(GO_TABLE['no_proxy'], GO_TABLE['ways']):
        for url, way in zip(GO_TABLE['urls'], ways):
            if bypasses_proxy(url, no_proxy) != (way == 'd'):
                differences.append((no_proxy, url, 'Go: %s' % go_way(no_proxy, url)))
    assert len(GO_TABLE['no_proxy']) * len(GO_TABLE['urls']) > 5000
    assert differences == []


@pytest.mark.parametrize('no_proxy, url, way', [
    # An IPv6 entry in brackets without a port is read as a domain: it matches nothing.
    ('[2001:db8::10]', 'https://[2001:db8::10]/api/v4/', 'proxy'),
    ('[2001:db8::10]:443', 'https://[2001:db8::10]/api/v4/', 'direct'),
    ('2001:db8::10', 'https://[2001:db8::10]/api/v4/', 'direct'),
    # IPv4-mapped loopback is loopback.
    ('', 'https://[::ffff:127.0.0.1]/api/v4/', 'direct'),
    ('10.0.0.0/8', 'https://[::ffff:10.1.2.3]/api/v4/', 'direct'),
    # Names compare in IDNA form.
    ('bücher.example', 'https://xn--bcher-kva.example/api/v4/', 'direct'),
    ('xn--bcher-kva.example', 'https://www.bücher.example/api/v4/', 'direct'),
    ('straße.example', 'https://xn--strae-oqa.example/api/v4/', 'direct'),
])
def test_the_cases_the_module_decided_otherwise_than_the_runner(no_proxy, url, way):
    assert go_way(no_proxy, url) == way
    environ = dict(ENVIRONMENT, NO_PROXY=no_proxy)
    assert proxy_from_environment(url, environ) == (None if way == 'direct' else 'http://proxy.corp:3128')


class SlowRateLimitedServer:
    """Answers every request 429 with Retry-After: 1, its body trickling in over about 0.6 s."""

    def __init__(self):
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.url = 'http://127.0.0.1:%d/' % self.listener.getsockname()[1]
        self.requests = 0
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.closing.is_set():
            try:
                connection, dummy = self.listener.accept()
            except OSError:
                return
            with connection:
                data = b''
                while b'\r\n\r\n' not in data:
                    data += connection.recv(4096) or b'\r\n\r\n'
                self.requests += 1
                connection.sendall(b'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 6\r\n\r\n')
                for byte in b'{"a":}':
                    if self.closing.wait(0.1):
                        return
                    connection.sendall(bytes((byte,)))

    def close(self):
        self.closing.set()
        stop_listening(self.listener, self.thread)


def test_max_wait_counts_the_time_of_requests_answered_with_a_status_to_retry(clock):
    slow = SlowRateLimitedServer()
    try:
        client = GitLabClient(slow.url, sleep=clock.sleep, clock=clock.time, environ={}, max_wait=2.5, timeout=5)
        with pytest.raises(RateLimitError) as raised:
            client.call('GET', 'runners/1')
    finally:
        slow.close()
    # 0.6 s answering, 1 s waiting, 0.6 s answering: one more wait would pass 2.5 s. Counting the waits
    # alone, two waits (1 + 2 s) fit and a third request is made.
    assert clock.sleeps == [1.0]
    assert slow.requests == 2
    assert 'spent on rate limits in all (waits and the requests answered so), more than max_wait (2.5 s)' \
        in str(raised.value)


LONG_LABEL = 'a' * 64


@pytest.mark.parametrize('arguments, words', [
    (dict(url='https://gitlab.lab.test:70000/'), "url 'https://gitlab.lab.test:70000/' has the port '70000': "
     "expected a port from 1 to 65535"),
    (dict(url='https://%s.lab.test/' % LONG_LABEL), "url 'https://%s.lab.test/' has a label of 64 characters"
     % LONG_LABEL),
    (dict(url='https://git lab.lab.test/'), "url 'https://git lab.lab.test/' contains ' '"),
    (dict(url='https://gitlab.lab.test/', proxy='http://svc:S3cret-pass@proxy.lab.test:99999'),
     "proxy 'http://svc:********@proxy.lab.test:99999' has the port '99999'"),
    (dict(url='https://gitlab.lab.test/', environ={'HTTPS_PROXY': 'proxy.lab.test:3128 '}),
     "the proxy from the environment 'http://proxy.lab.test:3128 ' contains ' '"),
    (dict(url='https://gitlab.lab.test/', environ={'HTTPS_PROXY': 'http://[2001:db8::10'}),
     "the proxy from the environment 'http://[2001:db8::10' cannot be read as a URL"),
    (dict(url='https://gitlab.lab.test/', ca_file='/nonexistent/corp-root.pem'),
     "ca_file '/nonexistent/corp-root.pem' cannot be used ([Errno 2] No such file or directory): expected a "
     "readable file of PEM CA certificates"),
])
def test_bad_urls_and_ca_files_fail_naming_the_value_and_what_is_expected(arguments, words):
    arguments.setdefault('environ', {})
    with pytest.raises(GitLabApiError) as raised:
        GitLabClient(**arguments)
    assert words in str(raised.value)
    assert 'S3cret-pass' not in str(raised.value)
