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
to the next rule, and all the waits of one client together, with the time
of the requests answered with a status to retry and of the retries, may not
exceed ``max_wait`` seconds: a wait that would go beyond fails at once,
saying when to try again, instead of holding the play. ``timeout`` bounds
each request as a whole (see ``_http``).

The proxy is chosen the way the runner chooses it (Go's
``ProxyFromEnvironment``, whose rules are golang.org/x/net/http/httpproxy's)
unless one is given: ``HTTPS_PROXY`` for https URLs, ``HTTP_PROXY`` for
http ones (upper case first, as the Go the runner is built with reads
them), no proxy for ``localhost``, loopback addresses and what ``NO_PROXY``
names (bypasses_proxy).

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
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import (
    DEFAULT_PORTS,
    idna_ascii,
    parse_url,
)
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
    try:
        parts = urllib.parse.urlsplit(proxy)
    except ValueError:
        # Not a URL with or without a scheme: left as it is for the error that names it.
        return proxy
    if not parts.scheme or not parts.netloc:
        return 'http://' + proxy
    return proxy


def _go_address(text, zone_allowed=False):
    """The IP address Go's netip.ParseAddr reads in ``text``, or None.

    The zone (``fe80::1%eth0``), where allowed, is dropped: Go compares the
    address alone. An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is
    the IPv4 address, as Go's net.IP compares, masks and tests it.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6:
        if address.scope_id is not None:
            if not zone_allowed:
                return None
            address = ipaddress.IPv6Address(text.partition('%')[0])
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
    return address


def _go_network(entry):
    """The network of a CIDR entry as Go's net.ParseCIDR and IPNet read it, or None when it is not one."""
    text, slash, bits = entry.partition('/')
    if not slash or not (bits.isdigit() and bits.isascii()) or '%' in text:
        return None
    try:
        network = ipaddress.ip_network((ipaddress.ip_address(text), int(bits)), strict=False)
    except ValueError:
        return None
    # Go tests an address against a block whose network number is
    # IPv4-mapped (::ffff:10.0.0.0/104) as against the IPv4 block.
    mapped = network.network_address.ipv4_mapped if network.version == 6 else None
    if mapped is not None:
        return ipaddress.ip_network((mapped, network.prefixlen - 96))
    return network


def _go_split_host_port(text):
    """(host, port) as Go's net.SplitHostPort splits ``text``, or None where it gives an error."""
    colon = text.rfind(':')
    if colon < 0:
        return None
    if text.startswith('['):
        end = text.find(']')
        if end < 0 or end + 1 != colon:
            return None
        host, after_open, after_close = text[1:end], 1, end + 1
    else:
        host, after_open, after_close = text[:colon], 0, 0
        if ':' in host:
            return None
    if '[' in text[after_open:] or ']' in text[after_close:]:
        return None
    return host, text[colon + 1:]


def _no_proxy_rules(no_proxy):
    """The rules of a NO_PROXY value, read entry by entry as Go's httpproxy reads them, or None for ``*``.

    (networks, [(address, port)], [(domain suffix, port, whether the domain itself matches)]);
    a port '' matches every port.
    """
    networks, addresses, domains = [], [], []
    for entry in (no_proxy or '').split(','):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == '*':
            return None
        network = _go_network(entry)
        if network is not None:
            networks.append(network)
            continue
        split = _go_split_host_port(entry)
        if split is not None:
            host, port = split
            if not host:
                continue
            if host.startswith('[') and host.endswith(']'):
                host = host[1:-1]
        else:
            host, port = entry, ''
        address = _go_address(host)
        if address is not None:
            addresses.append((address, port))
            continue
        if host.startswith('*.'):
            host = host[1:]
        whole_domain = not host.startswith('.')
        domains.append((idna_ascii(host if not whole_domain else '.' + host), port, whole_domain))
    return networks, addresses, domains


def bypasses_proxy(url, no_proxy):
    """Whether the runner (Go's golang.org/x/net/http/httpproxy) connects to ``url`` directly.

    ``localhost`` as written and loopback addresses (``::ffff:127.0.0.1``
    included) always go direct. ``NO_PROXY`` entries, each with an optional
    ``:port`` that must then equal the URL's: ``*`` (everything), an IP
    address or CIDR block (IPv6 with a port as ``[2001:db8::10]:443``; in
    brackets without a port it matches nothing), a domain that also covers
    its subdomains (``example.com``), a leading ``.`` or ``*.`` for the
    subdomains alone. Names are compared in IDNA form, so ``bücher.example``
    and ``xn--bcher-kva.example`` are one. Raises UrlError for a URL that
    cannot be requested.
    """
    target = parse_url(url)
    host = idna_ascii(target.host)
    port = target.port_text or str(DEFAULT_PORTS[target.scheme])
    if host == 'localhost':
        return True
    address = _go_address(host, zone_allowed=True)
    if address is not None and address.is_loopback:
        return True
    rules = _no_proxy_rules(no_proxy)
    if rules is None:
        return True
    networks, addresses, domains = rules
    if address is not None:
        return (any(address in network for network in networks)
                or any(address == entry and entry_port in ('', port) for entry, entry_port in addresses))
    host = host.strip().lower()
    return any((host.endswith(suffix) or (whole_domain and host == suffix[1:])) and entry_port in ('', port)
               for suffix, entry_port, whole_domain in domains)


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
    try:
        return make_context(cafile=ca_file, validate_certs=validate_certs)
    except (OSError, ValueError) as error:
        raise GitLabApiError('ca_file %r cannot be used (%s): expected a readable file of PEM CA certificates'
                             % (ca_file, error)) from None


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
        if not isinstance(url, str) or not url.lower().startswith(('http://', 'https://')):
            raise GitLabApiError('url must be an http:// or https:// URL of the GitLab instance, got %r' % (url,))
        self.base_url = url.rstrip('/')
        self.timeout = timeout
        self.max_wait = max_wait
        self.sleep = sleep or self.default_sleep
        self.clock = clock or self.default_clock
        self.random_fraction = random_fraction or self.default_random_fraction
        try:
            address = parse_url(url)
            self.proxy = choose_proxy(self.base_url + '/', proxy, environ)
            if self.proxy:
                parse_url(self.proxy, 'the proxy' if proxy else 'the proxy from the environment', ('http',))
        except _http.UrlError as error:
            raise GitLabApiError(str(error)) from None
        # Seconds spent on rate limits and retries: the waits and the requests answered with a status to retry.
        self.waited = 0.0
        self._waiting = threading.Lock()
        self._ssl_context = _tls_context(ca_file, validate_certs) if address.scheme == 'https' else None

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
            started = time.monotonic()
            response = self._open(method, endpoint, body, headers)
            spent = time.monotonic() - started
            attempt += 1
            if not is_retried(response.status):
                if attempt > 1:
                    with self._waiting:
                        self.waited += spent
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
                self.waited += spent
                if self.waited + wait > self.max_wait:
                    raise RateLimitError(
                        '%s; GitLab asks to wait %.1f s (%s), which would make %.1f s spent on rate limits in all '
                        '(waits and the requests answered so), more than max_wait (%s s): retry after %s'
                        % (what, wait, reason, self.waited + wait, self.max_wait, format_utc(now + wait)),
                        response.status, response.message)
                self.waited += wait
            self.sleep(wait)
