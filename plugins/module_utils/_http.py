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
"""

from __future__ import annotations

import base64
import http.client
import urllib.parse


class HttpError(Exception):
    """No answer: the connection, the proxy's tunnel or TLS failed."""


def _proxy_authorization(proxy):
    if proxy.username is None:
        return {}
    credentials = '%s:%s' % (urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or ''))
    return {'Proxy-Authorization': 'Basic ' + base64.b64encode(credentials.encode('utf-8')).decode('ascii')}


def request(method, url, body=None, headers=None, proxy=None, timeout=30, ssl_context=None):
    """(status, reason, [(name, value)], body bytes) of one request to ``url``.

    ``proxy`` is an ``http://[user:password@]host[:port]`` URL or None; https
    URLs go through it with CONNECT. ``ssl_context`` checks the server's
    certificate for https URLs.
    """
    target = urllib.parse.urlsplit(url)
    if target.scheme not in ('http', 'https') or not target.hostname:
        raise HttpError('not an http:// or https:// URL: %r' % (url,))
    secure = target.scheme == 'https'
    port = target.port or (443 if secure else 80)
    path = (target.path or '/') + ('?' + target.query if target.query else '')
    headers = dict(headers or {})
    if proxy:
        through = urllib.parse.urlsplit(proxy)
        if through.scheme != 'http' or not through.hostname:
            raise HttpError('the proxy must be an http:// URL, got %s://' % through.scheme)
        proxy_port = through.port or 80
        if secure:
            connection = http.client.HTTPSConnection(through.hostname, proxy_port, timeout=timeout, context=ssl_context)
            connection.set_tunnel(target.hostname, port, headers=_proxy_authorization(through))
        else:
            connection = http.client.HTTPConnection(through.hostname, proxy_port, timeout=timeout)
            headers.update(_proxy_authorization(through))
            # A proxy takes the absolute URL; http.client derives Host from it.
            path = urllib.parse.urlunsplit((target.scheme, target.netloc.rpartition('@')[2], target.path or '/',
                                            target.query, ''))
    elif secure:
        connection = http.client.HTTPSConnection(target.hostname, port, timeout=timeout, context=ssl_context)
    else:
        connection = http.client.HTTPConnection(target.hostname, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.reason, answer.getheaders(), answer.read()
    except (http.client.HTTPException, OSError) as error:
        raise HttpError(str(error) or type(error).__name__) from None
    finally:
        connection.close()
