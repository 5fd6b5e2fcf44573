# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One HTTP request, directly or through an HTTP proxy, that keeps its connection open.

Python's urllib (and Ansible's ``module_utils.urls``, ``uri`` and ``get_url``
with it) sends ``Connection: close`` with every request. cntlm 0.92.3, the
version Debian 12 ships, cannot finish its NTLM handshake with the upstream
proxy for such a client: the request fails ("Remote end closed connection
without response"). ``http.client`` speaks HTTP/1.1 without that header, so
requests made here pass through cntlm like curl's, git's and apt's do.
Redirects are never followed: the caller gets the 3xx itself.

The tunnel through the proxy is opened here rather than by http.client,
whose ``set_tunnel`` in Python 3.11 writes an IPv6 address without its
brackets (``CONNECT 2001:db8::10:443``), which no proxy can read.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import re
import socket
import ssl
import string
import threading
import time
import unicodedata
import urllib.parse
from collections import namedtuple

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo

DEFAULT_PORTS = {'http': 80, 'https': 443}
# A host name's characters once it is in ASCII (IDNA): what DNS and Go's
# resolver (the runner's) take, "_" included.
_HOST_NAME = re.compile(r'[A-Za-z0-9_.-]+\Z')
# Spaces and control characters: urlsplit drops tabs and line breaks without
# a word, http.client refuses the others.
_BLANK = re.compile(r'[\x00-\x20\x7f]')
LABEL_MAX = 63
NAME_MAX = 253

# One URL as a request needs it. ``host`` is the host as written (without
# brackets, an IPv6 zone decoded), which Go's rules for NO_PROXY read;
# ``name`` what is connected to (an IDNA name in lower case, or the address);
# ``port_text`` the port as written ('' when none); ``target`` the path and
# query; ``username`` and ``password`` decoded, or None.
Address = namedtuple('Address', 'scheme host name port port_text target username password')


class HttpError(Exception):
    """No answer: the connection, the proxy's tunnel or TLS failed, or the time was up."""


class UrlError(HttpError):
    """A URL that cannot be requested; the message names it (password masked) and says what is expected."""


def idna_ascii(name):
    """``name`` with each non-ASCII label as its IDNA A-label (``xn--...``), as Go's ``idna.Lookup`` gives it.

    An ASCII name is returned as it is (Go's httpproxy does the same); a
    label that is not is mapped to lower case and NFKC first, keeping ``ß``
    and ``ς`` (IDNA 2008, not Python's IDNA 2003 codec, which writes
    ``ss``).
    """
    if name.isascii():
        return name
    labels = []
    for label in name.split('.'):
        mapped = unicodedata.normalize('NFKC', label.lower())
        labels.append(mapped if mapped.isascii() else 'xn--' + mapped.encode('punycode').decode('ascii'))
    return '.'.join(labels)


def _bad(what, url, problem, expected):
    return UrlError('%s %s %s: expected %s' % (what, mask_url_userinfo(repr(url)), problem, expected))


def _checked_name(host, what, url):
    """The host name in ASCII and lower case, or UrlError saying what is wrong with it."""
    expected = ("a host name (letters, digits, '-', '_', dot-separated labels of at most %d characters, %d in all), "
                "an IPv4 address or an IPv6 address in brackets" % (LABEL_MAX, NAME_MAX))
    if not host:
        raise _bad(what, url, 'has no host', expected)
    name = idna_ascii(host).lower()
    if not _HOST_NAME.match(name):
        bad = sorted(set(character for character in name if not _HOST_NAME.match(character)))
        raise _bad(what, url, 'has %s in its host %r' % (', '.join(map(repr, bad)), host), expected)
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    for label in labels:
        if not label:
            raise _bad(what, url, 'has an empty label in its host %r' % host, expected)
        if len(label) > LABEL_MAX:
            raise _bad(what, url, 'has a label of %d characters in its host (%r)' % (len(label), label), expected)
    if len(name) > NAME_MAX:
        raise _bad(what, url, 'has a host of %d characters' % len(name), expected)
    return name


def _split_authority(hostport, what, url):
    """(host as written, name to connect to, port as written) of ``host[:port]`` or ``[IPv6][:port]``."""
    if hostport.startswith('['):
        inside, bracket, port_part = hostport[1:].partition(']')
        if not bracket or (port_part and not port_part.startswith(':')):
            raise _bad(what, url, 'has a broken IPv6 address %r' % hostport,
                       'an IPv6 address in brackets, such as [2001:db8::10] or [2001:db8::10]:8443')
        host = urllib.parse.unquote(inside)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad(what, url, 'has %r in brackets, which is not an IPv6 address' % host,
                       'an IPv6 address in brackets, such as [2001:db8::10]') from None
        return host, host.lower(), port_part[1:]
    host, colon, port_text = hostport.rpartition(':')
    if not colon:
        host, port_text = hostport, ''
    if ':' in host:
        try:
            ipaddress.IPv6Address(hostport)
        except ValueError:
            raise _bad(what, url, "has more than one ':' in %r" % hostport, 'host:port') from None
        raise _bad(what, url, 'has the IPv6 address %r without brackets' % hostport,
                   'an IPv6 address in brackets, such as [%s] or [%s]:8443' % (hostport, hostport))
    try:
        return host, str(ipaddress.IPv4Address(host)), port_text
    except ValueError:
        return host, _checked_name(host, what, url), port_text


def parse_url(url, what='url', schemes=('http', 'https')):
    """The Address of ``url``, or UrlError naming ``what`` and the URL and saying what is expected.

    Accepted: ``scheme://[user[:password]@]host[:port][/path][?query]`` with
    one of ``schemes``; the host a name, an IPv4 address or an IPv6 address
    in brackets (a zone as ``%25eth0``); the port 1 to 65535. The user info
    ends at the last ``@`` of the authority, as Go and Python read it.
    """
    expected_url = '%s://host[:port][/path]' % ('http(s)' if 'https' in schemes else 'http')
    if not isinstance(url, str) or not url:
        raise UrlError('%s must be a URL such as %s, got %r' % (what, expected_url, url))
    blank = _BLANK.search(url)
    if blank:
        raise _bad(what, url, 'contains %r' % blank.group(),
                   'a URL without spaces or control characters (in a path, a space is %20)')
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as error:
        raise _bad(what, url, 'cannot be read as a URL (%s)' % error, expected_url) from None
    if parts.scheme not in schemes or not parts.netloc:
        raise UrlError('%s must be an %s URL, got %s' % (
            what, ' or '.join(scheme + '://' for scheme in schemes), mask_url_userinfo(url)))
    userinfo, at, hostport = parts.netloc.rpartition('@')
    host, name, port_text = _split_authority(hostport, what, url)
    if port_text and not (port_text.isdigit() and port_text.isascii() and 1 <= int(port_text) <= 65535):
        raise _bad(what, url, 'has the port %r' % port_text, 'a port from 1 to 65535')
    username = password = None
    if at:
        username, colon, password = (urllib.parse.unquote(part) for part in userinfo.partition(':'))
        password = password if colon else None
    # http.client sends the request line in ASCII: other characters go percent-encoded.
    target = urllib.parse.quote((parts.path or '/') + ('?' + parts.query if parts.query else ''),
                                safe=string.punctuation)
    port = int(port_text) if port_text else DEFAULT_PORTS[parts.scheme]
    return Address(parts.scheme, host, name, port, port_text, target, username, password)


def authority(address, with_port=False):
    """``name[:port]`` for a Host header or CONNECT: an IPv6 address in brackets, without its zone."""
    name = address.name
    if ':' in name:
        name = '[%s]' % name.partition('%')[0]
    if with_port or address.port != DEFAULT_PORTS[address.scheme]:
        return '%s:%d' % (name, address.port)
    return name


def _proxy_authorization(proxy):
    if proxy.username is None:
        return {}
    credentials = '%s:%s' % (proxy.username, proxy.password or '')
    return {'Proxy-Authorization': 'Basic ' + base64.b64encode(credentials.encode('utf-8')).decode('ascii')}


class _Deadline:
    """The end of one request's time: connecting, sending and the whole answer together.

    A socket timeout alone bounds each read, so a server sending a byte now
    and then could hold a request for ever. At the deadline every socket of
    the request is shut down, which ends whatever the request is doing on it
    (connecting through the proxy, the TLS handshake, reading), and the
    request fails with "timed out". Name resolution is not covered: the
    resolver has no timeout to give.
    """

    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self):
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise socket.timeout('timed out')
        return left

    def watch(self, sock):
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)
        return sock

    @staticmethod
    def _shut(sock):
        try:
            # The socket's own shutdown: an SSLSocket's would also drop its
            # TLS state under the thread that is reading.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def _expire(self):
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    def stop(self):
        with self._lock:
            self._timer.cancel()
            self._sockets = []


def _open_tunnel(sock, target, proxy):
    """Ask the proxy on ``sock`` for a tunnel to ``target``; HttpError when it refuses."""
    place = authority(target, with_port=True)
    head = ['CONNECT %s HTTP/1.0' % place, 'Host: %s' % place]
    head.extend('%s: %s' % item for item in _proxy_authorization(proxy).items())
    sock.sendall(('\r\n'.join(head) + '\r\n\r\n').encode('ascii'))
    answer = http.client.HTTPResponse(sock, method='CONNECT')
    try:
        answer.begin()
    finally:
        answer.close()
    if answer.status != 200:
        raise HttpError('Tunnel connection failed: %d %s' % (answer.status, answer.reason))


class _Connection(http.client.HTTPConnection):
    """A connection to ``dial`` (the server or the proxy) whose sockets ``deadline`` watches.

    With ``tunnel_to``, ``dial`` is the proxy (an Address with its
    credentials) and the connection goes on through a tunnel to that server.
    With ``tls``, TLS runs with the server (through the tunnel if any).
    """

    def __init__(self, dial, deadline, tls=None, tunnel_to=None):
        super().__init__(dial.name, dial.port)
        self.dial = dial
        self.deadline = deadline
        self.tls = tls
        self.tunnel_to = tunnel_to

    def connect(self):
        # Held at once, so that close() closes it when the tunnel is refused.
        self.sock = self.deadline.watch(socket.create_connection((self.host, self.port), self.deadline.remaining()))
        if self.tunnel_to is not None:
            _open_tunnel(self.sock, self.tunnel_to, self.dial)
        if self.tls is not None:
            server_name = (self.tunnel_to or self.dial).name.partition('%')[0]
            self.sock = self.deadline.watch(self.tls.wrap_socket(self.sock, server_hostname=server_name))


def request(method, url, body=None, headers=None, proxy=None, timeout=30, ssl_context=None):
    """(status, reason, [(name, value)], body bytes) of one request to ``url``.

    ``proxy`` is an ``http://[user:password@]host[:port]`` URL or None; https
    URLs go through it with CONNECT. ``ssl_context`` checks the server's
    certificate for https URLs. ``timeout`` bounds the whole request:
    connecting, the tunnel, TLS, sending and reading the whole answer.
    Raises UrlError for a URL that cannot be requested, HttpError when no
    complete answer came.
    """
    target = parse_url(url)
    through = parse_url(proxy, 'the proxy', ('http',)) if proxy else None
    secure = target.scheme == 'https'
    tls = (ssl_context or ssl.create_default_context()) if secure else None
    headers = dict(headers or {})
    headers['Host'] = authority(target)
    path = target.target
    deadline = _Deadline(timeout)
    if through is None:
        connection = _Connection(target, deadline, tls)
    elif secure:
        connection = _Connection(through, deadline, tls, tunnel_to=target)
    else:
        connection = _Connection(through, deadline)
        headers.update(_proxy_authorization(through))
        # A proxy takes the absolute URL, without the user info.
        path = '%s://%s%s' % (target.scheme, authority(target), target.target)
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.reason, answer.getheaders(), answer.read()
    except (http.client.HTTPException, OSError) as error:
        if deadline.expired or isinstance(error, socket.timeout):
            raise HttpError('timed out') from None
        raise HttpError(str(error) or type(error).__name__) from None
    finally:
        deadline.stop()
        connection.close()
