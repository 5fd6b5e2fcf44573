# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the doctor playbook reads into what it sees: the outcome of one probe, in words.

Every function here is pure: the modules that probe (proxy_probe,
dockerd_registry_probe, runner_git_probe, runner_config_check) hand it what
they got - an HTTP answer, an error message of Go, curl or git, a file's
text - and get back an outcome and a short detail in which no password
shows.

An outcome names what failed from the host's point of view: the account
the proxy refused, the upstream that cntlm could not reach, a name nobody
resolved, a local proxy that did not answer. ADVICE turns it into the
likely cause and the fix a user reads in the doctor's table.

How cntlm 0.92.3 answers (run here against the real program, see
docs/doctor.md): when its upstream refuses the account it passes the
upstream's 407 on with ``Proxy-Authenticate: Basic realm="Cntlm for
parent"`` after exactly one NTLM handshake per client request; when it can
neither resolve nor connect to any upstream it answers ``502 Parent proxy
unreacheable`` (sic) in both cases, so the doctor tells those two apart by
resolving the upstreams' names itself.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import namedtuple
from collections.abc import Mapping

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._dind import no_proxy_entries
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import HttpError, UrlError, request
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_config_keys import (
    RUNNER_CONFIG_KEYS,
    type_error_messages,
    unknown_key_messages,
    unknown_keys,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    SECRET_KEYS,
    TomlDocumentError,
    decode_config,
    load_plain,
)

# The result of a hop in the table.
PASSED = 'ok'
FAILED = 'FAILED'
SKIPPED = 'skipped'
NOT_CONFIGURED = 'not configured'

# Outcomes of one probe.
REACHED = 'reached'
CREDENTIALS_REFUSED = 'credentials refused'
UPSTREAM_UNREACHABLE = 'upstream unreachable'
NAME_NOT_RESOLVED = 'name not resolved'
PROXY_UNREACHABLE = 'proxy unreachable'
ACCESS_DENIED = 'access denied'
PROXY_ERROR = 'proxy error'
DESTINATION_UNREACHABLE = 'destination unreachable'
TIMED_OUT = 'timed out'
TLS_FAILED = 'TLS failed'
NO_ANSWER = 'no answer'

Probe = namedtuple('Probe', 'outcome detail')

# cntlm 0.92.3 rewrites the upstream's Proxy-Authenticate on a refusal to this realm.
CNTLM_REALM = 'Cntlm for parent'
# cntlm 0.92.3's own error page when no upstream works (the spelling is cntlm's).
CNTLM_NO_UPSTREAM = 'Parent proxy unreacheable'
_SQUID_ERROR = re.compile(r'\bERR_[A-Z_]+\b')
_SQUID_NAME_ERRORS = frozenset(('ERR_DNS_FAIL',))
_SQUID_CONNECT_ERRORS = frozenset(('ERR_CONNECT_FAIL',))
_SQUID_DENIED = frozenset(('ERR_ACCESS_DENIED', 'ERR_CACHE_ACCESS_DENIED', 'ERR_FORWARDING_DENIED'))
_SHOWN_TEXT = 200


def shown(text, limit=_SHOWN_TEXT):
    """One line of ``text`` for the table: URL passwords masked, white space folded, cut at ``limit``."""
    line = ' '.join(mask_url_userinfo(str(text)).split())
    return line if len(line) <= limit else line[:limit - 3] + '...'


def _header(headers, name):
    """All values of header ``name`` (case-insensitive) in a list of (name, value) pairs."""
    return [value for key, value in headers if key.lower() == name.lower()]


def _text(body):
    """An answer's body as text, whatever its bytes."""
    return body.decode('latin-1') if isinstance(body, bytes) else body or ''


def squid_error(headers, body):
    """The squid error code of an answer (``ERR_DNS_FAIL`` ...), or None: header first, then squid's page."""
    for value in _header(headers, 'X-Squid-Error'):
        found = _SQUID_ERROR.search(value)
        if found:
            return found.group()
    page = _text(body)
    found = _SQUID_ERROR.search(page)
    return found.group() if found and 'squid' in page.lower() else None


def from_cntlm(headers, body):
    """Whether an answer is cntlm's own (its error page, or its realm on a passed-on refusal)."""
    page = _text(body)
    return (any(CNTLM_REALM in value for value in _header(headers, 'Proxy-Authenticate'))
            or CNTLM_NO_UPSTREAM in page or 'cntlm.sf.net' in page)


def classify_proxy_answer(status, reason, headers, body, tunnel=False):
    """The Probe for an answer that came from a proxy rather than from the destination, or None.

    ``tunnel`` says the answer is the proxy's to a CONNECT: any status but
    200 is the proxy's then. Without a tunnel (an http:// URL through the
    proxy) an answer is the proxy's when it says so (cntlm's page or realm,
    a squid error code); any other answer came from the destination.
    """
    code = squid_error(headers, body)
    cntlm = from_cntlm(headers, body) or CNTLM_NO_UPSTREAM in reason
    said = '%d %s' % (status, reason) + (' (%s)' % code if code else '') + (' from cntlm' if cntlm else '')
    if status == 407:
        if cntlm:
            return Probe(CREDENTIALS_REFUSED, 'the upstream proxy refused the account cntlm sent: ' + said)
        return Probe(CREDENTIALS_REFUSED, 'the proxy asked for credentials or refused them: ' + said)
    if cntlm and CNTLM_NO_UPSTREAM in _text(body) + reason:
        return Probe(UPSTREAM_UNREACHABLE, 'cntlm reached none of its upstream proxies: ' + said)
    if code in _SQUID_NAME_ERRORS:
        return Probe(NAME_NOT_RESOLVED, 'the proxy could not resolve the destination: ' + said)
    if code in _SQUID_CONNECT_ERRORS:
        return Probe(DESTINATION_UNREACHABLE, 'the proxy could not connect to the destination: ' + said)
    if code in _SQUID_DENIED:
        return Probe(ACCESS_DENIED, 'the proxy does not let this destination through: ' + said)
    if code or cntlm or (tunnel and status != 200):
        return Probe(PROXY_ERROR, 'the proxy answered ' + said)
    return None


def diagnose_upstreams(upstreams, resolve, connect):
    """Why cntlm reached no upstream: NAME_NOT_RESOLVED when no name resolves, else UPSTREAM_UNREACHABLE.

    ``resolve(host)`` returns whether the name resolves on this host and
    ``connect(host, port)`` whether a TCP connection opens; neither sends
    a byte to the upstream, so no credentials are tried.
    """
    unresolved, refused = [], []
    for upstream in upstreams:
        host, port = split_host_port(upstream)
        if not resolve(host):
            unresolved.append(upstream)
        elif not connect(host, port):
            refused.append(upstream)
    if upstreams and len(unresolved) == len(upstreams):
        return Probe(NAME_NOT_RESOLVED, 'no upstream proxy name resolves on this host: %s' % ', '.join(unresolved))
    parts = []
    if unresolved:
        parts.append('not resolved: %s' % ', '.join(unresolved))
    if refused:
        parts.append('no TCP connection: %s' % ', '.join(refused))
    return Probe(UPSTREAM_UNREACHABLE, 'cntlm reached none of its upstream proxies (%s)'
                 % ('; '.join(parts) or 'each accepts a TCP connection from here; cntlm may be on another network'))


def split_host_port(text, default_port=3128):
    """(host, port) of ``host:port``, ``[v6]:port`` or a bare host."""
    text = text.strip()
    if text.startswith('['):
        host, _bracket, rest = text[1:].partition(']')
        return host, int(rest[1:]) if rest.startswith(':') and rest[1:].isdigit() else default_port
    host, colon, port = text.rpartition(':')
    if colon and port.isdigit() and ':' not in host:
        return host, int(port)
    return text, default_port


# Error messages of Go programs (dockerd, the runner), curl and git, in the
# order they are tried: the first pattern that matches decides.
_ERROR_PATTERNS = (
    (re.compile(r'\b407\b|Proxy Authentication Required', re.I), CREDENTIALS_REFUSED),
    (re.compile(CNTLM_NO_UPSTREAM, re.I), UPSTREAM_UNREACHABLE),
    (re.compile(r'Could not resolve proxy|proxyconnect tcp: dial tcp: lookup', re.I), NAME_NOT_RESOLVED),
    (re.compile(r'proxyconnect tcp|Failed to connect to (?P<proxy_host>\S+) port \d+.*proxy|'
                r'Unable to connect to proxy', re.I), PROXY_UNREACHABLE),
    (re.compile(r'Could not resolve host|no such host|Name or service not known|'
                r'Temporary failure in name resolution|server misbehaving', re.I), NAME_NOT_RESOLVED),
    (re.compile(r'\bForbidden\b|\b403\b.*(?:proxy|CONNECT)', re.I), ACCESS_DENIED),
    (re.compile(r'x509:|tls:|SSL certificate problem|certificate verify failed|SSL_ERROR', re.I), TLS_FAILED),
    (re.compile(r'timed? ?out|deadline exceeded|Client\.Timeout', re.I), TIMED_OUT),
    (re.compile(r'CONNECT tunnel failed|from proxy after CONNECT|Bad Gateway|Service Unavailable|'
                r'Gateway Time-?out', re.I), PROXY_ERROR),
    (re.compile(r'connection refused|Failed to connect|Couldn.t connect|network is unreachable|'
                r'no route to host', re.I), DESTINATION_UNREACHABLE),
)
# Answers that show the request reached its destination (a registry, GitLab,
# a git server) even though the destination said no: the path works.
_REACHED_PATTERNS = re.compile(
    r'manifest unknown|not found|unauthorized|authentication required|denied: |toomanyrequests|'
    r'repository \S+ not found|Authentication failed|could not read Username|'
    r'The requested URL returned error: (?:401|403|404)', re.I)


def classify_error_text(text, proxy_host=None):
    """The Probe for an error message of dockerd, the runner, curl or git; REACHED when the destination answered.

    ``proxy_host`` (the host of the proxy in use) lets curl's "Failed to
    connect to HOST port N" be read as the proxy not answering.
    """
    message = shown(text)
    if proxy_host and re.search(r'Failed to connect to %s port' % re.escape(proxy_host), text or ''):
        return Probe(PROXY_UNREACHABLE, message)
    for pattern, outcome in _ERROR_PATTERNS:
        if pattern.search(text or ''):
            if outcome == DESTINATION_UNREACHABLE and _REACHED_PATTERNS.search(text):
                break
            return Probe(outcome, message)
    if _REACHED_PATTERNS.search(text or ''):
        return Probe(REACHED, message)
    return Probe(NO_ANSWER, message or 'no message')


# ------------------------------------------------------------------ host files

def cntlm_settings(text):
    """The settings of a cntlm.conf that say where it listens and forwards; never its hashes or password.

    Keys are case-insensitive in cntlm; ``Listen`` and ``Proxy`` repeat.
    """
    settings = {'listen': [], 'proxy': [], 'no_proxy': [], 'auth': '', 'username': '', 'domain': ''}
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        key, _space, value = line.partition(' ') if ' ' in line else line.partition('\t')
        key, value = key.lower(), value.strip()
        if key == 'listen':
            settings['listen'].append(value)
        elif key in ('proxy', 'parent'):
            settings['proxy'].append(value)
        elif key == 'noproxy':
            settings['no_proxy'].extend(item.strip() for item in value.split(',') if item.strip())
        elif key in ('auth', 'username', 'domain'):
            settings[key] = value
    return settings


def listen_addresses(listen):
    """(host, port) for each cntlm ``Listen`` value: ``port`` alone means every address, checked on loopback."""
    addresses = []
    for value in listen:
        if value.isdigit():
            addresses.append(('127.0.0.1', int(value)))
        else:
            addresses.append(split_host_port(value))
    return addresses


def systemd_environment(show_output):
    """The variables of ``systemctl show --property=Environment UNIT``'s answer, as a dict.

    systemd quotes an assignment that holds spaces or quotes, with C-style
    escapes; shlex reads that form.
    """
    value = show_output.strip()
    if value.startswith('Environment='):
        value = value[len('Environment='):]
    variables = {}
    for item in shlex.split(value):
        name, equals, content = item.partition('=')
        if equals:
            variables[name] = content
    return variables


def environment_dict(entries):
    """A runner's ``environment`` list (``NAME=value``) as a dict; the last of a repeated name wins, as in Docker."""
    variables = {}
    for entry in entries or ():
        name, equals, value = str(entry).partition('=')
        if equals:
            variables[name] = value
    return variables


PROXY_NAMES = ('HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY')
_LOOPBACK = re.compile(r'^(?:localhost|127(?:\.[0-9]+){3}|::1|\[::1\])$', re.I)


def proxy_host(url):
    """The host of a proxy URL (with or without scheme and user info), or ''."""
    authority = re.sub(r'^[A-Za-z][A-Za-z0-9+.-]*://', '', url).split('/', 1)[0].rpartition('@')[2]
    return split_host_port(authority, 0)[0]


def service_environment_problems(variables, unit):
    """What is missing from a service's proxy environment (a Go program reads either case)."""
    problems = []
    for name in ('HTTP_PROXY', 'HTTPS_PROXY'):
        if not (variables.get(name) or variables.get(name.lower())):
            problems.append('%s has no %s' % (unit, name))
    return problems


def job_environment_problems(variables):
    """What keeps a job container's clients from using the proxy as configured.

    Both cases of each proxy variable must be set (curl and git read only
    the lower-case http_proxy, wget only lower case; Go prefers upper case),
    to the same value; NO_PROXY entries ``*.x`` are ignored by curl, git,
    Python and wget, and a proxy on loopback is the container's own.
    """
    problems = []
    for name in PROXY_NAMES:
        upper, lower = variables.get(name), variables.get(name.lower())
        if not upper and not lower:
            if name != 'NO_PROXY':
                problems.append('%s and %s are not set' % (name, name.lower()))
            continue
        if not upper or not lower:
            problems.append('only %s is set (%s is missing)' % ((name, name.lower()) if upper else (name.lower(), name)))
        elif upper != lower:
            problems.append('%s and %s differ (Go reads the first, curl, git and Python the second)'
                            % (name, name.lower()))
    for name in ('HTTP_PROXY', 'HTTPS_PROXY'):
        for value in {variables.get(name), variables.get(name.lower())} - {None, ''}:
            if _LOOPBACK.match(proxy_host(value)):
                problems.append('%s points at %s, which inside a container is the container itself'
                                % (name, shown(value)))
    for value in {variables.get('NO_PROXY'), variables.get('no_proxy')} - {None, ''}:
        starred = [entry.strip() for entry in value.split(',') if entry.strip().startswith('*.')]
        if starred:
            problems.append('NO_PROXY entries %s are ignored by curl, git, Python and wget (write %s)'
                            % (', '.join(starred), ', '.join(entry[2:] for entry in starred)))
    return sorted(set(problems), key=problems.index)


def dind_alias(runner):
    """The host name of a runner's Docker-in-Docker daemon, or None when the runner uses no dind service.

    A ``[[runners.docker.services]]`` entry whose image name holds ``dind``
    (its alias, else ``docker``), or a ``DOCKER_HOST`` of ``tcp://NAME:2375``
    or ``:2376`` in the runner's environment.
    """
    docker = runner.get('docker') or {}
    for service in docker.get('services') or ():
        if isinstance(service, Mapping) and 'dind' in str(service.get('name', '')):
            aliases = re.split(r'[\s,]+', str(service.get('alias') or '').strip())
            return aliases[0] if aliases[0] else 'docker'
    docker_host = environment_dict(runner.get('environment')).get('DOCKER_HOST', '')
    found = re.match(r'tcp://([^:/]+):237[56]\b', docker_host)
    return found.group(1) if found else None


def dind_problems(runner):
    """The dind daemon's entries missing from the runner's NO_PROXY (either case), or []."""
    alias = dind_alias(runner)
    if alias is None:
        return []
    variables = environment_dict(runner.get('environment'))
    problems = []
    for name in ('NO_PROXY', 'no_proxy'):
        entries = [entry.strip() for entry in variables.get(name, '').split(',')]
        missing = [entry for entry in no_proxy_entries(alias) if entry not in entries]
        if missing:
            problems.append('%s lacks %s' % (name, ', '.join(missing)))
    return problems


def runner_summary(runner):
    """What the doctor needs to know of one [[runners]] entry; no secret in it (URL passwords masked)."""
    docker = runner.get('docker') if isinstance(runner.get('docker'), Mapping) else {}
    return {
        'name': str(runner.get('name', '')),
        'url': shown(runner.get('url', ''), 2000),
        'executor': str(runner.get('executor', '')),
        'image': str(docker.get('image', '')),
        'helper_image': str(docker.get('helper_image', '')),
        'network_mode': str(docker.get('network_mode', '')),
        'job_environment_problems': job_environment_problems(environment_dict(runner.get('environment'))),
        'dind': dind_alias(runner) or '',
        'dind_problems': dind_problems(runner),
    }


# ------------------------------------------------------------------ config.toml

_LAST_KEY = re.compile(r'(?:^|\.)(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9_-]+))$')


def _sections_holding(key):
    return [section for section, fields in RUNNER_CONFIG_KEYS.items()
            if not section.startswith('_') and isinstance(fields, Mapping) and key in fields]


def _toml_section_name(section):
    if section == 'global':
        return 'the top level'
    if section == 'runners':
        return '[[runners]]'
    return '[%s]' % section.split(' (', 1)[0]


def config_key_problems(document):
    """One line per key gitlab-runner would ignore or refuse in a parsed config.toml.

    Unknown keys (with the runner's closest key, or the release that removed
    it) and, for a key that another section knows, that section: a key in
    the wrong place is silently ignored just like a typo. Then every value of
    the wrong type. Secret values are never shown.
    """
    problems = []
    for path, message in zip(unknown_keys(document), unknown_key_messages(document)):
        found = _LAST_KEY.search(path)
        key = (found.group(1) or found.group(2)) if found else ''
        homes = [_toml_section_name(section) for section in _sections_holding(key)]
        if homes and 'did you mean' not in message and 'removed in' not in message:
            message = '%s: known only in %s: in the wrong section, so ignored' % (path, ', '.join(homes[:3]))
        elif homes and 'removed in' not in message:
            message += ' (a key of that name belongs in %s)' % ', '.join(homes[:3])
        problems.append(message)
    problems.extend(type_error_messages(document, SECRET_KEYS))
    return problems


def read_config(raw):
    """(document, problem): config.toml's bytes parsed, or None and what is wrong with line and column."""
    try:
        return load_plain(decode_config(raw).lstrip('\ufeff'), what='config.toml'), None
    except TomlDocumentError as error:
        return None, str(error)


def runner_version(text):
    """(major, minor) from ``gitlab-runner --version``'s output, or None."""
    found = re.search(r'^Version:\s*v?(\d+)\.(\d+)', text or '', re.M)
    return (int(found.group(1)), int(found.group(2))) if found else None


def lint_available(version):
    """Whether a runner of ``version`` has ``gitlab-runner lint`` (added in 19.3.0)."""
    return version is not None and version >= (19, 3)


# ------------------------------------------------------------------ the table

# Per outcome: the most likely cause and the fix, in a user's words. {hop}
# is the hop's name, {proxy} the proxy in use (password masked).
ADVICE = {
    CREDENTIALS_REFUSED: (
        'the corporate proxy refused the account: the password changed or expired, the account is locked, '
        'or the hashes in cntlm.conf were made for another user, domain or Auth mode',
        'check the account (not by retrying: repeated failures lock it), put the new password in the vault '
        'and run site.yml (tag cntlm), which writes new hashes and restarts cntlm'),
    UPSTREAM_UNREACHABLE: (
        'the corporate proxy does not answer from this host (down, another port, or a firewall between them)',
        'check the upstream proxies of the statement (host:port) and that this host may reach them; '
        'cntlm tries them in the order given'),
    NAME_NOT_RESOLVED: (
        'a host name could not be resolved: the proxy\'s own name on this host, or a destination that is '
        'resolved locally because no proxy was used for it',
        'check DNS on this host for the proxy\'s name, or that the proxy variables are set where this hop '
        'runs (a request that bypasses the proxy resolves names the corporate network cannot)'),
    PROXY_UNREACHABLE: (
        'nothing answers at the local proxy address ({proxy}): cntlm is stopped, listens elsewhere, or the '
        'address is not reachable from where this hop runs',
        'start cntlm (systemctl start cntlm) and check its Listen addresses against the proxy URL; '
        'run site.yml to put both back in line'),
    ACCESS_DENIED: (
        'the corporate proxy lets this account through but not to this destination',
        'ask the proxy\'s owners to allow the destination, or add it to the statement\'s no_proxy when it is '
        'inside the company'),
    PROXY_ERROR: (
        'the proxy answered with an error of its own',
        'read the detail; the corporate proxy\'s error page names the reason'),
    DESTINATION_UNREACHABLE: (
        'the destination refused the connection or cannot be routed to',
        'check the URL, and whether it should go through the proxy (no_proxy) or not'),
    TIMED_OUT: (
        'no answer in time: a proxy or destination that drops packets, or an overloaded proxy',
        'try again later; check the proxy\'s address and the firewalls on the way'),
    TLS_FAILED: (
        'the TLS handshake failed: a certificate this host does not trust (a TLS-inspecting proxy)',
        'install the company\'s CA certificate on the host (and in the job images)'),
    NO_ANSWER: (
        'the probe got no answer it could read',
        'read the detail; run the doctor again with -v'),
}


def advice(outcome, proxy=''):
    """(cause, fix) for an outcome, the proxy's password masked."""
    cause, fix = ADVICE.get(outcome, ADVICE[NO_ANSWER])
    proxy = shown(proxy) if proxy else 'the proxy URL'
    return cause.format(proxy=proxy), fix.format(proxy=proxy)


TABLE_COLUMNS = (('hop', 'hop'), ('tried', 'what was tried'), ('result', 'result'),
                 ('cause', 'likely cause'), ('fix', 'fix'))
_COLUMN_WIDTHS = {'hop': 26, 'tried': 40, 'result': 50, 'cause': 48, 'fix': 48}


def _wrapped(text, width):
    words, lines, line = shown(text, 2000).split(' '), [], ''
    for word in words:
        while len(word) > width:
            if line:
                lines.append(line)
                line = ''
            lines.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = (line + ' ' + word) if line else word
    lines.append(line)
    return lines


def render_table(rows):
    """The doctor's table as text: one block of wrapped lines per hop, passwords masked in every cell.

    ``rows`` are mappings with ``hop``, ``tried``, ``result`` and, for a
    failure, ``cause`` and ``fix``. Columns without content in every row
    (no failure: no cause, no fix) are left out.
    """
    columns = [(key, title) for key, title in TABLE_COLUMNS
               if key in ('hop', 'tried', 'result') or any(row.get(key) for row in rows)]
    widths = [max(len(title), min(_COLUMN_WIDTHS[key], max([len(shown(row.get(key, ''), 2000)) for row in rows] or [0])))
              for key, title in columns]
    rule = '+' + '+'.join('-' * (width + 2) for width in widths) + '+'
    out = [rule, '| ' + ' | '.join(title.ljust(width) for (key, title), width in zip(columns, widths)) + ' |', rule]
    for row in rows:
        cells = [_wrapped(row.get(key, '') or '', width) for (key, title), width in zip(columns, widths)]
        for index in range(max(len(cell) for cell in cells)):
            out.append('| ' + ' | '.join((cell[index] if index < len(cell) else '').ljust(width)
                                         for cell, width in zip(cells, widths)) + ' |')
        out.append(rule)
    return '\n'.join(out)


# ------------------------------------------------------------------ one request

UNEXPECTED_ANSWER = 'unexpected answer'
ADVICE[UNEXPECTED_ANSWER] = (
    'the destination answered, but not as expected',
    'read the detail (the status and the start of the answer)')
_ANSWER_SHOWN = 160


def _socket_error_probe(text, via_proxy):
    """A connection error of the request (no HTTP answer) as a Probe."""
    lowered = text.lower()
    if 'timed out' in lowered:
        return Probe(TIMED_OUT, shown(text))
    if 'name or service not known' in lowered or 'temporary failure in name resolution' in lowered \
            or 'no address associated' in lowered or 'nodename nor servname' in lowered:
        return Probe(NAME_NOT_RESOLVED, ('the proxy\'s name does not resolve: ' if via_proxy else '') + shown(text))
    if 'refused' in lowered or 'unreachable' in lowered or 'no route' in lowered:
        return Probe(PROXY_UNREACHABLE if via_proxy else DESTINATION_UNREACHABLE, shown(text))
    if 'certificate' in lowered or 'ssl' in lowered:
        return Probe(TLS_FAILED, shown(text))
    return Probe(PROXY_ERROR if via_proxy else NO_ANSWER, shown(text))


_TUNNEL_REFUSED = re.compile(r'^Tunnel connection failed: (\d{3}) ?(.*)$')


def probe_url(url, proxy=None, timeout=20, headers=None, expect_status=None, send=request):
    """(Probe, status) of ONE request to ``url``, directly or through ``proxy``; never retried.

    The outcome says who answered and what that means: the proxy's refusal
    of the account, cntlm's "no upstream", the proxy's error page, no answer
    at all - or REACHED when the destination answered. With
    ``expect_status``, a destination's answer with another status is
    UNEXPECTED_ANSWER. ``send`` is _http.request (a test gives another).
    Raises UrlError for a URL or proxy that cannot be used.
    """
    via_proxy = bool(proxy)
    try:
        status, reason, answer_headers, body = send('GET', url, headers=headers, proxy=proxy or None, timeout=timeout)
    except UrlError:
        raise
    except HttpError as error:
        refused = _TUNNEL_REFUSED.match(str(error))
        if refused:
            return classify_proxy_answer(int(refused.group(1)), refused.group(2), [], b'', tunnel=True), \
                int(refused.group(1))
        return _socket_error_probe(str(error), via_proxy), None
    if via_proxy:
        found = classify_proxy_answer(status, reason, answer_headers, body)
        if found is not None:
            return found, status
    said = '%d %s' % (status, reason)
    if expect_status and status not in expect_status:
        start = shown(body.decode('utf-8', 'replace'), _ANSWER_SHOWN)
        return Probe(UNEXPECTED_ANSWER, 'expected %s, got %s%s' % (
            ' or '.join(str(code) for code in expect_status), said, (': ' + start) if start else '')), status
    return Probe(REACHED, 'the destination answered %s' % said), status


def classify_dockerd_answer(status, body, proxy_host=None):
    """The Probe for dockerd's answer to ``GET /distribution/IMAGE/json`` (it asks the registry for the manifest).

    200: the registry answered through dockerd's proxy. Otherwise dockerd's
    JSON ``message`` holds the Go error of its request, read as for any Go
    program; a registry's own refusal (unknown manifest, no access) still
    shows that the round trip worked.
    """
    if status == 200:
        return Probe(REACHED, 'the registry answered dockerd (200)')
    try:
        message = json.loads(body.decode('utf-8', 'replace')).get('message', '')
    except (ValueError, AttributeError):
        message = body.decode('utf-8', 'replace') if isinstance(body, bytes) else str(body)
    return classify_error_text('dockerd %d: %s' % (status, message), proxy_host)


# ------------------------------------------------------------------ git in a container

GIT_MISSING = 'no git in the image'
# The exit status of timeout(1) when the time ran out.
TIMEOUT_STATUS = 124
IMAGE_MISSING = 'image not on the host'
# Every variable a job's git (curl underneath) reads for its proxy.
GIT_PROXY_NAMES = ('HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy',
                   'ALL_PROXY', 'all_proxy')


def git_probe_command(image, url, network_mode, variables):
    """(argv, environment) of ``docker run`` for ``git ls-remote URL`` in ``image`` with a job's variables.

    The values travel in the docker client's environment and the command
    line only names them (``-e NAME``): no proxy password on a command line.
    Every proxy variable the job does not set is passed empty, so that the
    docker client's own config.json ``proxies`` (which the runner does not
    use) cannot stand in for a missing job environment. The job's DOCKER_*
    variables are left out: they point the job's own docker client at its
    dind service (DOCKER_HOST=tcp://docker:2376, its TLS files), and in the
    probe's environment they would point the probe's docker client there.
    """
    environment = dict((name, '') for name in GIT_PROXY_NAMES)
    environment.update((name, value) for name, value in variables.items() if not name.upper().startswith('DOCKER_'))
    environment['GIT_TERMINAL_PROMPT'] = '0'
    argv = ['docker', 'run', '--rm', '--pull', 'never', '--entrypoint', 'git']
    if network_mode:
        argv += ['--network', network_mode]
    for name in environment:
        argv += ['-e', name]
    argv += [image, 'ls-remote', '--heads', url]
    return argv, environment


def classify_git_output(rc, output, proxy_host_name=None):
    """The Probe for what ``docker run ... git ls-remote`` printed."""
    if rc == 0:
        return Probe(REACHED, 'git listed the remote\'s branches')
    if rc == TIMEOUT_STATUS:
        return Probe(TIMED_OUT, 'git did not finish in time' + ((': ' + shown(output)) if output.strip() else ''))
    if re.search(r'No such image|pull access denied|Unable to find image', output or '', re.I):
        return Probe(IMAGE_MISSING, shown(output))
    if re.search(r'executable file not found|"git": .*not found|exec: "git"', output or '', re.I):
        return Probe(GIT_MISSING, shown(output))
    return classify_error_text(output, proxy_host_name)


def table_rows(hops):
    """The table's rows from the doctor's hops: the result with its detail, and cause and fix for a failure.

    A failed hop without its own cause and fix gets those of its outcome
    (ADVICE), the proxy in them masked.
    """
    rows = []
    for hop in hops:
        result = hop.get('result', '')
        detail = hop.get('detail') or ''
        row = {'hop': hop.get('hop', ''), 'tried': hop.get('tried', ''),
               'result': '%s: %s' % (result, detail) if detail else result}
        if result == FAILED:
            cause, fix = advice(hop.get('outcome', NO_ANSWER), hop.get('proxy', ''))
            row['cause'] = hop.get('cause') or cause
            row['fix'] = hop.get('fix') or fix
        rows.append(row)
    return rows


# ------------------------------------------------------------------ the hops

def cntlm_probe_settings(grep_output):
    """cntlm's settings from its non-secret lines, with (host, port) per Listen and the address to probe.

    The probe goes to a loopback Listen address when there is one (what
    host services use), else the first.
    """
    settings = cntlm_settings(grep_output)
    addresses = listen_addresses(settings['listen'])
    settings['listen_addresses'] = [list(address) for address in addresses]
    loopback = [address for address in addresses if _LOOPBACK.match(address[0])]
    chosen = (loopback or addresses or [None])[0]
    settings['probe_address'] = '%s:%d' % chosen if chosen else ''
    return settings


def _hop(name, tried, result, detail='', outcome='', proxy='', cause='', fix=''):
    return {'hop': name, 'tried': tried, 'result': result, 'detail': detail, 'outcome': outcome, 'proxy': proxy,
            'cause': cause, 'fix': fix}


def _ran(result):
    return isinstance(result, Mapping) and bool(result) and not result.get('skipped')


def _config_hop(facts):
    config = facts.get('config') or {}
    path = facts.get('config_path', 'config.toml')
    if not config.get('exists'):
        return _hop('config.toml', 'read %s' % path, NOT_CONFIGURED, 'no such file')
    lint = config.get('lint') or {}
    tried = 'every key of %s against the runner\'s key list' % path
    if lint.get('available'):
        tried += '; gitlab-runner %s lint' % lint.get('version', '')
    problems = list(config.get('problems') or [])
    if lint.get('available') and not lint.get('ok'):
        problems.append('gitlab-runner lint: %s' % (lint.get('output') or 'refused the file'))
    if not problems:
        return _hop('config.toml', tried, PASSED)
    return _hop('config.toml', tried, FAILED, '; '.join(problems),
                cause='gitlab-runner silently ignores a key it does not know or finds in the wrong section (a '
                      'setting that never takes effect) and refuses the whole file for a value of the wrong type',
                fix='correct the keys named; for the settings the collection writes, fix the inventory and run '
                    'site.yml (tag gitlab_runner)')


def _cntlm_hop(facts):
    plan = facts.get('plan') or {}
    if not facts.get('cntlm_expected'):
        why = ('the statement says auth %s: no cntlm' % plan.get('auth', 'basic or none')
               if plan.get('enabled') else 'no cntlm.conf on the host')
        return _hop('cntlm', 'look for cntlm', NOT_CONFIGURED, why)
    cntlm = facts.get('cntlm') or {}
    listens = ['%s:%s' % tuple(address) for address in cntlm.get('listen_addresses', [])]
    tried = 'the cntlm service\'s state; a TCP connection to %s' % (', '.join(listens) or 'its Listen addresses')
    state = ((facts.get('services') or {}).get('cntlm.service') or {}).get('state', 'absent')
    if not facts.get('cntlm_file'):
        return _hop('cntlm', tried, FAILED, 'the statement asks for cntlm but the host has no cntlm.conf',
                    cause='cntlm was never configured on this host', fix='run site.yml (tag cntlm)')
    silent = [address for address, result in zip(listens, facts.get('cntlm_listen') or [])
              if not (isinstance(result, Mapping) and 'state' in result)]
    if state != 'running':
        return _hop('cntlm', tried, FAILED, 'the cntlm service is %s' % state,
                    cause='cntlm is stopped, or exited: it refuses to start when it cannot listen on every Listen '
                          'address (docker0 not up yet) and stops on SIGHUP',
                    fix='systemctl start cntlm; journalctl -u cntlm says why it stopped; site.yml puts the unit '
                        'and its ordering after docker back')
    if silent or not listens:
        return _hop('cntlm', tried, FAILED, 'nothing accepts connections on %s' % (', '.join(silent) or 'any address'),
                    cause='cntlm runs but does not listen where its configuration says',
                    fix='restart cntlm (systemctl restart cntlm) and read journalctl -u cntlm')
    return _hop('cntlm', tried, PASSED, 'running, listening on %s' % ', '.join(listens))


def _upstream_hop(facts):
    upstream = facts.get('upstream') or {}
    name = 'cntlm -> upstream' if facts.get('cntlm_expected') else 'proxy -> upstream'
    if not _ran(upstream):
        if facts.get('cntlm_expected'):
            return _hop(name, 'one request through cntlm', SKIPPED, 'not tried: cntlm does not answer')
        return _hop(name, 'one request through the proxy', NOT_CONFIGURED)
    if upstream.get('failed'):
        return _hop(name, 'one request to %s' % facts.get('probe_url', ''), FAILED, shown(upstream.get('msg', '')))
    through = upstream.get('through', '')
    if not facts.get('cntlm_expected') and through == 'direct':
        return _hop(name, 'the proxy dockerd is given', NOT_CONFIGURED, 'no proxy is configured on this host')
    tried = 'one GET of %s through %s, not retried' % (facts.get('probe_url', ''), through)
    if upstream.get('ok'):
        return _hop(name, tried, PASSED, upstream.get('detail', ''))
    return _hop(name, tried, FAILED, '%s: %s' % (upstream.get('outcome'), upstream.get('detail', '')),
                outcome=upstream.get('outcome', NO_ANSWER), proxy=through)


def _skipped_behind_upstream(name, tried):
    return _hop(name, tried, SKIPPED, 'not tried: the upstream hop failed (its credentials are not sent again)')


def _dockerd_hop(facts):
    name = 'dockerd -> registry'
    if 'docker.service' not in (facts.get('services') or {}):
        return _hop(name, 'look for dockerd', NOT_CONFIGURED, 'no docker service')
    tried = 'dockerd\'s unit environment; dockerd asked for the manifest of %s' % facts.get('registry_image', '')
    dockerd = facts.get('dockerd') or {}
    if not _ran(dockerd):
        return _skipped_behind_upstream(name, tried)
    if dockerd.get('failed'):
        return _hop(name, tried, FAILED, shown(dockerd.get('msg', '')), cause='dockerd does not answer on its socket',
                    fix='systemctl status docker; journalctl -u docker')
    problems = dockerd.get('environment_problems') or []
    if problems:
        return _hop(name, tried, FAILED, '; '.join(problems) + '; registry: %s' % dockerd.get('detail', ''),
                    outcome=dockerd.get('outcome', ''),
                    cause='dockerd\'s proxy drop-in (/etc/systemd/system/docker.service.d/http-proxy.conf) is missing '
                          'or was changed: image pulls bypass the proxy',
                    fix='run site.yml (tag docker_proxy), which writes the drop-in and restarts dockerd')
    if dockerd.get('ok'):
        return _hop(name, tried, PASSED, dockerd.get('detail', ''))
    return _hop(name, tried, FAILED, '%s: %s' % (dockerd.get('outcome'), dockerd.get('detail', '')),
                outcome=dockerd.get('outcome', NO_ANSWER))


def _mirror_hop(facts):
    name = 'registry mirror'
    mirror = facts.get('mirror') or ''
    if not mirror:
        return _hop(name, 'registry-mirrors in daemon.json', NOT_CONFIGURED, 'dockerd has no registry mirror')
    tried = 'GET %s/v2/ directly; its upstream in its config; the manifest of %s through it' % (
        mirror, facts.get('mirror_image', ''))
    api = facts.get('mirror_api') or {}
    if not api.get('ok'):
        return _hop(name, tried, FAILED, '%s: %s' % (api.get('outcome'), api.get('detail', shown(api.get('msg', '')))),
                    cause='the mirror does not answer at %s: it is stopped or listens elsewhere' % mirror,
                    fix='start it (systemctl start docker-registry, or its container registry-mirror) and read its '
                        'log; site.yml (tag registry_mirror) sets it up again')
    remote = facts.get('mirror_remote') or ''
    if not remote:
        return _hop(name, tried, FAILED, 'its configuration has no upstream (proxy.remoteurl)',
                    cause='the registry runs as a plain registry, not as a pull-through cache',
                    fix='run site.yml (tag registry_mirror)')
    pull = facts.get('mirror_pull') or {}
    if not _ran(pull):
        return _hop(name, tried, SKIPPED, 'answers, upstream %s; the pull was not tried: the upstream hop failed'
                    % remote)
    if pull.get('ok'):
        return _hop(name, tried, PASSED, 'answers, upstream %s, served the manifest' % remote)
    return _hop(name, tried, FAILED, '%s: %s' % (pull.get('outcome'), pull.get('detail', '')),
                cause='the mirror could not fetch the image from its upstream %s (its proxy environment, the '
                      'upstream\'s account) or the upstream does not have it' % remote,
                fix='read the mirror\'s log (journalctl -u docker-registry, or docker logs registry-mirror); '
                    'run site.yml (tag registry_mirror)')


def _runner_api_hop(facts):
    name = 'runner service -> GitLab'
    if 'gitlab-runner.service' not in (facts.get('services') or {}):
        return _hop(name, 'look for the gitlab-runner service', NOT_CONFIGURED, 'no gitlab-runner service')
    urls = [runner.get('url') for runner in (facts.get('config') or {}).get('runners', []) if runner.get('url')]
    if not urls:
        return _hop(name, 'the runners\' GitLab URLs', NOT_CONFIGURED, 'no runner in config.toml')
    tried = 'the unit\'s environment; GET %s/api/v4/version the way the runner decides its proxy' % ', '.join(
        sorted(set(urls)))
    calls = (facts.get('runner_api') or {}).get('results') or []
    if not calls or not all(_ran(call) for call in calls):
        return _skipped_behind_upstream(name, tried)
    problems, failures, outcome, proxy = [], [], '', ''
    for call in calls:
        problems.extend(problem for problem in call.get('environment_problems', []) if problem not in problems)
        if not call.get('ok'):
            failures.append('%s (through %s): %s: %s' % (call.get('item'), call.get('through'), call.get('outcome'),
                                                         call.get('detail', shown(call.get('msg', '')))))
            outcome, proxy = call.get('outcome', NO_ANSWER), call.get('through', '')
    if problems:
        return _hop(name, tried, FAILED, '; '.join(problems + failures),
                    cause='the runner service\'s proxy drop-in (/etc/systemd/system/gitlab-runner.service.d/'
                          'http-proxy.conf) is missing or changed: it would talk to GitLab without the proxy',
                    fix='run site.yml (tag gitlab_runner), which writes the drop-in and restarts the runner')
    if failures:
        return _hop(name, tried, FAILED, '; '.join(failures), outcome=outcome, proxy=proxy)
    return _hop(name, tried, PASSED, '; '.join('%s: %s' % (call.get('item'), call.get('detail')) for call in calls))


def _runner_hops(facts):
    runners = [runner for runner in (facts.get('config') or {}).get('runners', [])
               if str(runner.get('executor', '')).startswith('docker')]
    if not runners:
        return [_hop('job environment', 'the runners of config.toml', NOT_CONFIGURED, 'no runner with a Docker executor')]
    git_by_name = dict(((result.get('item') or {}).get('name'), result) for result in facts.get('git') or [])
    hops = []
    for runner in runners:
        problems = runner.get('job_environment_problems') or []
        label = runner.get('name', '')
        if problems:
            hops.append(_hop('job environment: %s' % label, 'its [[runners]] environment', FAILED, '; '.join(problems),
                             cause='the jobs of this runner do not get the proxy as every client reads it (curl, git, '
                                   'wget and Python read lower case, Go upper case; a container\'s loopback is its own)',
                             fix='run site.yml (tag gitlab_runner), which writes both cases to the runner\'s '
                                 'environment'))
        else:
            hops.append(_hop('job environment: %s' % label, 'its [[runners]] environment', PASSED,
                             'both cases, the same values'))
        hops.append(_git_hop(facts, runner, git_by_name.get(label) or {}, bool(problems)))
    dind = [runner for runner in runners if runner.get('dind')]
    if not dind:
        hops.append(_hop('dind NO_PROXY', 'the runners\' Docker-in-Docker services', NOT_CONFIGURED, 'no dind runner'))
    for runner in dind:
        name = 'dind NO_PROXY: %s' % runner.get('name', '')
        tried = 'NO_PROXY and no_proxy hold %s' % ', '.join(no_proxy_entries(runner['dind']))
        if runner.get('job_environment_problems'):
            hops.append(_hop(name, tried, SKIPPED, 'not judged: the job environment is broken (see its hop)'))
        elif runner.get('dind_problems'):
            hops.append(_hop(name, tried, FAILED, '; '.join(runner['dind_problems']),
                             cause='the job\'s docker client sends its requests for the dind daemon to the proxy, '
                                   'which cannot reach it: every docker command of the job fails',
                             fix='run site.yml (dind_proxy adds %s to the runner\'s NO_PROXY)'
                                 % ', '.join(no_proxy_entries(runner['dind']))))
        else:
            hops.append(_hop(name, tried, PASSED))
    return hops


def _git_hop(facts, runner, git, environment_broken):
    name = 'git in a job: %s' % runner.get('name', '')
    url = facts.get('git_url') or runner.get('url', '')
    image = facts.get('git_image') or ''
    tried = 'git ls-remote %s in %s with the job environment' % (url, image or 'an image with git')
    if environment_broken:
        return _hop(name, tried, SKIPPED, 'not tried: the job environment is broken (see its hop)')
    if not image:
        return _hop(name, tried, SKIPPED, 'not tried: no image with git on the host yet (the runner loads its helper '
                                          'image with the first job); set behindproxy_doctor_git_image')
    if not _ran(git):
        return _skipped_behind_upstream(name, tried)
    if git.get('failed'):
        return _hop(name, tried, FAILED, shown(git.get('msg', '')))
    outcome = git.get('outcome', NO_ANSWER)
    if outcome in (GIT_MISSING, IMAGE_MISSING):
        return _hop(name, tried, SKIPPED, 'not tried: %s (%s)' % (outcome, git.get('detail', '')))
    if git.get('ok'):
        return _hop(name, tried, PASSED, git.get('detail', ''))
    return _hop(name, tried, FAILED, '%s: %s' % (outcome, git.get('detail', '')), outcome=outcome)


def build_hops(facts):
    """The doctor's hops, in order, from what its tasks found (see playbooks/doctor.yml).

    A probe that did not run because the upstream hop failed is SKIPPED,
    never FAILED: the table names the one broken hop, not all behind it.
    """
    return ([_config_hop(facts), _cntlm_hop(facts), _upstream_hop(facts), _dockerd_hop(facts), _mirror_hop(facts),
             _runner_api_hop(facts)] + _runner_hops(facts))
