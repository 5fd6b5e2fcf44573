# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small client of GitLab's REST API that waits out rate limits the way GitLab Runner does.

GitLab Runner 18.3 and newer (network/retry_requester.go) retry a request
that was answered 408, 429, 500, 502, 503, 504 or any status from 512 up,
five attempts in all. Before each retry they wait until ``RateLimit-ResetTime``
(an HTTP date) when that lies in the future, else ``Retry-After`` seconds,
else a jittered exponential backoff from 0.1 s doubling up to 60 s. Header
names are compared without regard to case. This client does the same, with
two differences asked of it: a ``RateLimit-ResetTime`` that cannot be parsed
means one minute (what runners before 18.3 did) rather than falling through
to the next rule, and all the waits of one client together may not exceed
``max_wait`` seconds: a wait that would go beyond fails at once, saying when
to try again, instead of holding the play.

The proxy is chosen the way the runner chooses it (Go's
``ProxyFromEnvironment``) unless one is given: ``HTTPS_PROXY`` for https URLs,
``HTTP_PROXY`` for http ones (upper case first), no proxy for ``localhost``
and loopback addresses or for hosts ``NO_PROXY`` names.

Tokens travel in request bodies and headers only, never in a URL, and the
client never puts one into an error message. Redirects are not followed, so
that no token is sent on to another address. Requests go out through
``_http`` (http.client), which keeps the connection open: cntlm 0.92.3
cannot authenticate a client that sends ``Connection: close``, as urllib does.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
import json
import os
import random
import threading
import time
import urllib.parse

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _http
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo

API_PREFIX = '/api/v4/'
MAX_ATTEMPTS = 5
BACKOFF_MIN = 0.1
BACKOFF_MAX = 60.0
BACKOFF_FACTOR = 2.0
UNPARSABLE_RESET_TIME_WAIT = 60.0
RETRIED_STATUSES = frozenset((408, 429, 500, 502, 503, 504))
# Statuses from here up are retried too (the runner's shouldRetryRequest).
RETRIED_FROM = 512
DEFAULT_TIMEOUT = 30
DEFAULT_MAX_WAIT = 300
USER_AGENT = 'behindproxy.gitlab_runner (ansible module; urllib)'


class GitLabApiError(Exception):
    """A call that failed: no answer at all, or an answer the caller cannot accept.

    ``status`` is the HTTP status (None when nothing was answered);
    ``gitlab_message`` what GitLab said.
    """

    def __init__(self, message, status=None, gitlab_message=None):
        super().__init__(mask_url_userinfo(message))
        self.status = status
        self.gitlab_message = gitlab_message


class RateLimitError(GitLabApiError):
    """GitLab kept answering with a retried status, or asked for a wait longer than max_wait allows."""


class ApiResponse:
    """One answer: status, reason, headers (names in lower case), the body and its JSON (or None)."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason or ''
        self.headers = dict((name.lower(), value) for name, value in headers)
        self.body = body or b''
        try:
            self.data = json.loads(self.body.decode('utf-8')) if self.body else None
        except ValueError:
            self.data = None

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def message(self):
        """GitLab's message: ``message`` or ``error`` of a JSON body, else the start of the text."""
        if isinstance(self.data, dict):
            for key in ('message', 'error', 'error_description'):
                if self.data.get(key):
                    value = self.data[key]
                    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        text = self.body.decode('utf-8', errors='replace').strip()
        return text[:300]


# -------------------------------------------------------------- waiting

def is_retried(status):
    """Whether the runner retries an answer with this status."""
    return status in RETRIED_STATUSES or status >= RETRIED_FROM


def parse_http_date(value):
    """Seconds since the epoch of an HTTP date (RFC 1123), or None when it is not one."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def parse_retry_after(value):
    """Whole seconds of a Retry-After header, or None (the runner reads only integers)."""
    value = (value or '').strip()
    if not value or not value.lstrip('-').isdigit():
        return None
    return int(value)


class Backoff:
    """Jittered exponential backoff, as github.com/jpillora/backoff computes it for the runner.

    Wait number n (from 0) is drawn uniformly between the minimum and
    minimum * factor ** n, and kept between the minimum and the maximum.
    """

    def __init__(self, random_fraction, minimum=BACKOFF_MIN, maximum=BACKOFF_MAX,
                 factor=BACKOFF_FACTOR):
        self.random_fraction = random_fraction
        self.minimum = minimum
        self.maximum = maximum
        self.factor = factor
        self.attempt = 0

    def next(self):
        ceiling = self.minimum * self.factor ** self.attempt
        self.attempt += 1
        wait = self.random_fraction() * (ceiling - self.minimum) + self.minimum
        return min(max(wait, self.minimum), self.maximum)


def retry_wait(response, now, backoff):
    """(seconds to wait before retrying ``response``, why), by the runner's rules."""
    reset_time = response.header('RateLimit-ResetTime')
    if reset_time:
        reset_at = parse_http_date(reset_time)
        if reset_at is None:
            return UNPARSABLE_RESET_TIME_WAIT, 'RateLimit-ResetTime %r is not an HTTP date' % reset_time
        if reset_at > now:
            return reset_at - now, 'RateLimit-ResetTime %s' % reset_time
    retry_after = parse_retry_after(response.header('Retry-After'))
    if retry_after is not None and retry_after > 0:
        return float(retry_after), 'Retry-After %d' % retry_after
    return backoff.next(), 'backoff'


def format_utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')


# ---------------------------------------------------------------- proxy

def _environment_value(environ, *names):
    for name in names:
        value = environ.get(name)
        if value:
            return value
    return None


def _normal_proxy(proxy):
    """A proxy setting as Go reads it: without a scheme it is an http:// proxy."""
    parts = urllib.parse.urlsplit(proxy)
    if not parts.scheme or not parts.netloc:
        return 'http://' + proxy
    return proxy


def _host_and_port(url):
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or '').lower()
    port = parts.port or {'http': 80, 'https': 443}.get(parts.scheme)
    return host, str(port) if port else ''


def _split_no_proxy_entry(entry):
    """(host, port) of one NO_PROXY entry; port '' when none is given."""
    if entry.startswith('['):
        host, dummy, rest = entry[1:].partition(']')
        return host, rest[1:] if rest.startswith(':') else ''
    if entry.count(':') == 1:
        host, dummy, port = entry.partition(':')
        return host, port
    return entry, ''


def bypasses_proxy(url, no_proxy):
    """Whether Go's rules send a request for ``url`` directly rather than through the proxy.

    ``localhost`` and loopback addresses always go direct. ``NO_PROXY``
    entries: ``*`` (everything), an IP address or CIDR block, a domain that
    also covers its subdomains (``example.com``), a leading ``.`` or ``*.``
    for the subdomains alone, each with an optional ``:port``.
    """
    host, port = _host_and_port(url)
    if not host:
        return False
    if host == 'localhost':
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return True
    for entry in (no_proxy or '').split(','):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == '*':
            return True
        if '/' in entry:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                network = None
            if network is not None:
                if address is not None and address in network:
                    return True
                continue
        entry_host, entry_port = _split_no_proxy_entry(entry)
        if not entry_host:
            continue
        try:
            entry_address = ipaddress.ip_address(entry_host)
        except ValueError:
            entry_address = None
        if entry_address is not None:
            if address == entry_address and entry_port in ('', port):
                return True
            continue
        if address is not None:
            continue
        if entry_host.startswith('*.'):
            entry_host = entry_host[1:]
        whole_domain = not entry_host.startswith('.')
        suffix = entry_host if not whole_domain else '.' + entry_host
        if (host.endswith(suffix) or (whole_domain and host == entry_host)) and entry_port in ('', port):
            return True
    return False


def proxy_from_environment(url, environ=None):
    """The proxy URL the runner would use for ``url`` given ``environ``, or None for a direct connection."""
    environ = os.environ if environ is None else environ
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == 'https':
        proxy = _environment_value(environ, 'HTTPS_PROXY', 'https_proxy')
    elif scheme == 'http':
        proxy = _environment_value(environ, 'HTTP_PROXY', 'http_proxy')
    else:
        proxy = None
    if not proxy:
        return None
    if bypasses_proxy(url, _environment_value(environ, 'NO_PROXY', 'no_proxy')):
        return None
    return _normal_proxy(proxy)


def choose_proxy(url, proxy=None, environ=None):
    """The proxy for ``url``: ``proxy`` when given ('' means none), else the environment's."""
    if proxy is None:
        return proxy_from_environment(url, environ)
    if proxy == '':
        return None
    return _normal_proxy(proxy)


def _tls_context(ca_file, validate_certs):
    """The TLS context of an https GitLab.

    Imported and made here, for https URLs only: Ansible's urls module
    (which imports cryptography) and the system's CA bundle are the slow part
    of a run of runner_register against an http GitLab, a quarter of its
    start.
    """
    from ansible.module_utils.urls import make_context
    return make_context(cafile=ca_file, validate_certs=validate_certs)


# --------------------------------------------------------------- client

class GitLabClient:
    """Calls to one GitLab instance, with the runner's retries and a cap on the total wait.

    ``sleep``, ``clock`` and ``random_fraction`` default to the class's
    (time.sleep, time.time and random.random), which tests replace to drive
    the waiting rules without waiting; ``environ`` is os.environ unless given
    (it decides the proxy when ``proxy`` is None).
    """

    default_sleep = staticmethod(time.sleep)
    default_clock = staticmethod(time.time)
    default_random_fraction = staticmethod(random.random)

    def __init__(self, url, timeout=DEFAULT_TIMEOUT, ca_file=None, validate_certs=True, proxy=None,
                 max_wait=DEFAULT_MAX_WAIT, sleep=None, clock=None, random_fraction=None, environ=None):
        parts = urllib.parse.urlsplit(url or '')
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise GitLabApiError('url must be an http:// or https:// URL of the GitLab instance, got %r' % (url,))
        self.base_url = url.rstrip('/')
        self.timeout = timeout
        self.max_wait = max_wait
        self.sleep = sleep or self.default_sleep
        self.clock = clock or self.default_clock
        self.random_fraction = random_fraction or self.default_random_fraction
        self.proxy = choose_proxy(self.base_url + '/', proxy, environ)
        self.waited = 0.0
        self._waiting = threading.Lock()
        self._ssl_context = _tls_context(ca_file, validate_certs) if parts.scheme == 'https' else None

    def describe_route(self):
        """How requests travel, for messages: direct or through the proxy (its password masked)."""
        return 'through proxy %s' % mask_url_userinfo(self.proxy) if self.proxy else 'directly'

    def _open(self, method, endpoint, body, headers):
        data = None if body is None else json.dumps(body).encode('utf-8')
        sent = {'Accept': 'application/json', 'User-Agent': USER_AGENT}
        if data is not None:
            sent['Content-Type'] = 'application/json'
        sent.update(headers or {})
        try:
            status, reason, answer_headers, payload = _http.request(
                method, self.base_url + API_PREFIX + endpoint, body=data, headers=sent, proxy=self.proxy,
                timeout=self.timeout, ssl_context=self._ssl_context)
        except _http.HttpError as error:
            raise GitLabApiError('%s %s%s: no answer from %s (%s): %s'
                                 % (method, API_PREFIX, endpoint, self.base_url, self.describe_route(), error))
        return ApiResponse(status, reason, answer_headers, payload)

    def call(self, method, endpoint, body=None, headers=None):
        """Send one request (``endpoint`` without /api/v4/) and return its final ApiResponse.

        Retried statuses are retried as the runner does; any other answer,
        error statuses included, is returned for the caller to judge. Raises
        GitLabApiError when nothing answers, RateLimitError when GitLab keeps
        answering with a retried status or asks for too long a wait.
        """
        backoff = Backoff(self.random_fraction)
        attempt = 0
        while True:
            response = self._open(method, endpoint, body, headers)
            attempt += 1
            if not is_retried(response.status):
                return response
            what = '%s %s%s answered %d %s' % (method, API_PREFIX, endpoint, response.status, response.reason)
            if response.message:
                what += ' (GitLab: %s)' % response.message
            if attempt >= MAX_ATTEMPTS:
                raise RateLimitError('gave up due to rate limit after %d attempts: the last one %s'
                                     % (attempt, what), response.status, response.message)
            now = self.clock()
            wait, reason = retry_wait(response, now, backoff)
            # Calls may run in several threads (runner_register's verifications): they share the budget.
            with self._waiting:
                if self.waited + wait > self.max_wait:
                    raise RateLimitError(
                        '%s; GitLab asks to wait %.1f s (%s), which would make %.1f s of waiting in all, more than '
                        'max_wait (%s s): retry after %s' % (what, wait, reason, self.waited + wait, self.max_wait,
                                                             format_utc(now + wait)),
                        response.status, response.message)
                self.waited += wait
            self.sleep(wait)
