# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The proxy statement (``behindproxy_proxy``) checked, and what each place on a host derives from it.

The inventory states the corporate proxy once; proxy_plan() turns that
statement and the host's docker0 address into the values every role needs
(cntlm's settings, the proxy URL for host services and for containers,
NO_PROXY in the form each kind of client honours). cntlm_config_problems()
holds the rules for values written to cntlm.conf, shared by the plan and the
cntlm role's own checks.

Plain functions, no Ansible imports. Errors are ValueError with a message that
names the key and says what is expected; a password never appears in one.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import UrlError, parse_url
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_strings import merge_no_proxy

STATEMENT = "behindproxy_proxy"
AUTH_METHODS = ("ntlm", "basic", "none")
NTLM_MODES = ("NTLMv2", "NTLM2SR", "NT", "NTLM", "LM")
STATEMENT_DEFAULTS = {
    "upstreams": [],
    "auth": "ntlm",
    "username": "",
    "domain": "",
    "password": "",
    "ntlm_mode": "NTLMv2",
    "workstation": "",
    "no_proxy": [],
    "local_port": 3128,
}
# The keys each auth method reads besides upstreams and no_proxy; the others
# must be left out (a key given and then ignored is a setting that never
# takes effect).
AUTH_KEYS = {
    "ntlm": ("username", "domain", "password", "ntlm_mode", "workstation", "local_port"),
    "basic": ("username", "password"),
    "none": (),
}
CREDENTIAL_KEYS = ("username", "password")

# Where services on the host reach cntlm, and what every place reaches directly.
LOOPBACK_ADDRESS = "127.0.0.1"
LOOPBACK_NO_PROXY = ("localhost", "127.0.0.1", "::1")
# cntlm's NoProxy takes shell globs (no CIDR): loopback as cntlm writes it.
CNTLM_LOOPBACK_NO_PROXY = ("localhost", "127.0.0.*")

_LINE_BREAK = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_IN_HOST_PORT = re.compile(r"[\s/@?#,]")
# A NO_PROXY entry may hold "/" (a CIDR range), nothing else of a URL.
_NOT_IN_NO_PROXY_ENTRY = re.compile(r"[\s@?#,]")


def _where(key):
    return "%s.%s" % (STATEMENT, key)


# ----------------------------------------------------------- cntlm.conf values

def _cntlm_line_problem(name, value, secret):
    """Why ``value`` cannot be one value of a cntlm.conf line, or None."""
    shown = "" if secret else " %r" % (value,)
    if _LINE_BREAK.search(value):
        return ("%s%s has a line break: cntlm.conf holds one setting per line, so the rest would be read as "
                "another setting; expected a value on one line" % (name, shown))
    if "#" in value:
        return ("%s%s has a '#': cntlm's parser cuts every line at '#', so it would read only what comes "
                "before it; expected a value without '#'" % (name, shown))
    return None


def cntlm_config_problems(values, plaintext_password=False):
    """What stops each value of ``values`` (variable name -> text, list or mapping) from reaching cntlm.conf intact.

    cntlm reads ``Key value`` lines and cuts each line at ``#``: a value with a
    line break would add settings of its own, one with ``#`` would be cut
    short. Every value is checked, the items of a list and the keys and items
    of a mapping too. A name holding "pass" (the password, the PassNT...
    hashes) is a secret: its value never appears in a message. A name holding
    "password" is written only when ``plaintext_password`` (otherwise cntlm
    gets hashes, which any password gives, but a line break is still refused:
    it cannot be meant). Returns a list of messages, each naming the variable
    and saying what is expected; empty when all is well.
    """
    if not isinstance(values, Mapping):
        raise ValueError("cntlm_config_problems takes a mapping of variable names to values, got %s"
                         % type(values).__name__)
    problems = []
    for name, value in values.items():
        secret = "pass" in str(name).lower()
        if "password" in str(name).lower() and not plaintext_password:
            if isinstance(value, str) and _LINE_BREAK.search(value):
                problems.append("%s has a line break; expected a password on one line" % name)
            continue
        for label, item in _cntlm_items(name, value):
            problem = _cntlm_line_problem(label, item, secret)
            if problem:
                problems.append(problem)
    return problems


def _cntlm_items(name, value):
    """(label, text) of every string in ``value``: itself, a list's items, a mapping's keys and items."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, Mapping):
        items = []
        for key, child in value.items():
            items.append(("%s key" % name, str(key)))
            items.extend(_cntlm_items("%s.%s" % (name, key), child))
        return items
    if isinstance(value, (list, tuple)):
        items = []
        for index, child in enumerate(value):
            items.extend(_cntlm_items("%s[%d]" % (name, index), child))
        return items
    return [(name, str(value))]


# ------------------------------------------------------------- the statement

def _text(statement, key):
    """The statement's ``key`` as a string (its default when absent), or ValueError."""
    value = statement.get(key, STATEMENT_DEFAULTS[key])
    if value is None:
        value = STATEMENT_DEFAULTS[key]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bool, int, float, Mapping, list, tuple)):
        shown = "" if key == "password" else " %r" % (value,)
        raise ValueError("%s must be a string, got %s%s (quote it in YAML)"
                         % (_where(key), type(value).__name__, shown))
    # A vaulted value that is not a str subclass gives its plain text this way.
    return str(value)


def _checked_host_port(value, what):
    """``value`` if it is ``host:port`` or ``[IPv6]:port``, else ValueError naming ``what``."""
    expected = "host:port, such as proxy.corp.example:8080 or [2001:db8::8]:8080"
    if not isinstance(value, str) or not value.strip():
        raise ValueError("%s must be %s, got %r" % (what, expected, value))
    bad = _NOT_IN_HOST_PORT.search(value) or _CONTROL.search(value)
    if bad:
        raise ValueError("%s %r has %r: expected %s (no scheme, user, path or spaces)"
                         % (what, value, bad.group(), expected))
    try:
        address = parse_url("http://" + value, what=what)
    except UrlError as error:
        raise ValueError("%s %r is not host:port (%s)" % (what, value, error)) from None
    if not address.port_text:
        raise ValueError("%s %r has no port: expected %s" % (what, value, expected))
    return value


def _checked_upstreams(statement):
    upstreams = statement.get("upstreams")
    if not isinstance(upstreams, (list, tuple)) or not upstreams:
        raise ValueError("%s must list the corporate proxies as host:port, at least one, in order of preference; "
                         "got %r" % (_where("upstreams"), upstreams))
    return [_checked_host_port(upstream, "%s[%d]" % (_where("upstreams"), index))
            for index, upstream in enumerate(upstreams)]


def _checked_port(statement):
    port = statement.get("local_port", STATEMENT_DEFAULTS["local_port"])
    if isinstance(port, str) and port.isascii() and port.isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("%s must be a port number from 1 to 65535, got %r" % (_where("local_port"), port))
    return port


def _checked_no_proxy_entry(entry, what):
    """``entry`` stripped, if it names hosts to reach directly; ValueError otherwise."""
    expected = ("a host name, a domain (corp.example or .corp.example), an IP address, a CIDR range "
                "or host:port")
    if not isinstance(entry, str):
        raise ValueError("%s must be a string, got %s %r: expected %s" % (what, type(entry).__name__, entry, expected))
    value = entry.strip()
    if not value:
        raise ValueError("%s is empty: expected %s" % (what, expected))
    network = _ip_network(value)
    if value == "*" or (network is not None and network.prefixlen == 0):
        raise ValueError("%s is %r, which would bypass the proxy for everything: leave %s out instead "
                         "(no statement, no proxy)" % (what, value, STATEMENT))
    bad = _NOT_IN_NO_PROXY_ENTRY.search(value) or _CONTROL.search(value)
    if bad:
        raise ValueError("%s %r has %r: expected %s, one per list item" % (what, value, bad.group(), expected))
    if network is not None:
        return value
    host = value[2:] if value.startswith("*.") else value[1:] if value.startswith(".") else value
    if "/" in host:
        raise ValueError("%s %r is not a CIDR range: expected %s" % (what, value, expected))
    try:
        parse_url("http://" + host, what=what)
    except UrlError as error:
        raise ValueError("%s %r is not usable (%s)" % (what, value, error)) from None
    return value


def _ip_network(value):
    """The network of an IP address or CIDR range, or None for anything else."""
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _checked_no_proxy(statement):
    entries = statement.get("no_proxy")
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        raise ValueError("%s must be a list of corporate destinations reached directly, got %s %r"
                         % (_where("no_proxy"), type(entries).__name__, entries))
    return [_checked_no_proxy_entry(entry, "%s[%d]" % (_where("no_proxy"), index))
            for index, entry in enumerate(entries)]


def _checked_ntlm_values(values):
    """cntlm.conf's rules for the values cntlm writes, plus no white space at either end (cntlm trims it)."""
    problems = cntlm_config_problems({_where(key): value for key, value in values.items()})
    if problems:
        raise ValueError(problems[0])
    for key, value in values.items():
        if value != value.strip():
            raise ValueError("%s %r starts or ends with white space, which cntlm drops while the hashes keep it: "
                             "expected the value without it" % (_where(key), value))


def check_statement(statement):
    """The statement with its defaults filled in, or ValueError naming the bad key and saying what is expected."""
    if not isinstance(statement, Mapping):
        raise ValueError("%s must be a mapping with the keys %s, got %s"
                         % (STATEMENT, ", ".join(STATEMENT_DEFAULTS), type(statement).__name__))
    unknown = [key for key in statement if key not in STATEMENT_DEFAULTS]
    if unknown:
        raise ValueError("%s has the unknown key%s %s: the known keys are %s"
                         % (STATEMENT, "s" if len(unknown) > 1 else "", ", ".join(map(repr, map(str, unknown))),
                            ", ".join(STATEMENT_DEFAULTS)))
    auth = statement.get("auth", STATEMENT_DEFAULTS["auth"])
    if auth not in AUTH_METHODS:
        raise ValueError("%s must be one of %s (ntlm: through a local cntlm; basic: credentials in the proxy URL; "
                         "none: no credentials), got %r" % (_where("auth"), ", ".join(AUTH_METHODS), auth))
    unused = [key for key in statement
              if key not in ("upstreams", "auth", "no_proxy") + AUTH_KEYS[auth] and statement[key] not in (None, "")]
    if unused:
        raise ValueError("%s applies to auth %s only, and auth is %s: leave it out"
                         % (_where(unused[0]), " and ".join(method for method in AUTH_METHODS
                                                            if unused[0] in AUTH_KEYS[method]), auth))
    checked = {
        "auth": auth,
        "upstreams": _checked_upstreams(statement),
        "no_proxy": _checked_no_proxy(statement),
        "local_port": _checked_port(statement),
    }
    for key in ("username", "domain", "password", "workstation", "ntlm_mode"):
        checked[key] = _text(statement, key)
    for key in CREDENTIAL_KEYS:
        if auth in ("ntlm", "basic") and not checked[key]:
            raise ValueError("%s is required with auth %s: give the proxy account's %s"
                             % (_where(key), auth, key))
    if auth == "ntlm":
        if checked["ntlm_mode"] not in NTLM_MODES:
            raise ValueError("%s must be one of %s (cntlm's Auth), got %r"
                             % (_where("ntlm_mode"), ", ".join(NTLM_MODES), checked["ntlm_mode"]))
        _checked_ntlm_values({key: checked[key] for key in ("username", "domain", "workstation")})
        if _LINE_BREAK.search(checked["password"]):
            raise ValueError("%s has a line break; expected a password on one line" % _where("password"))
    return checked


# ------------------------------------------------------------ derived values

def basic_proxy_url(upstream, username, password):
    """``http://user:password@upstream`` with the user info percent-encoded, so that Go's url.Parse
    (dockerd, the runner, the registry) and curl read back exactly ``username`` and ``password``.

    Everything but letters, digits and ``-._~`` is encoded: ``:`` would end
    the user name, ``@``, ``/``, ``?`` and ``#`` the user info, and ``%``
    start an escape.
    """
    return "http://%s:%s@%s" % (urllib.parse.quote(username, safe=""), urllib.parse.quote(password, safe=""),
                                upstream)


def _host_of(entry):
    """The host of a NO_PROXY entry without its port (``[v6]:port`` and ``host:port``)."""
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    if entry.count(":") == 1:
        return entry.partition(":")[0]
    return entry


def cntlm_no_proxy(entries):
    """cntlm's NoProxy globs for NO_PROXY entries: ``(globs, warnings)``.

    cntlm matches the host a client asks for against shell globs, by name:
    a domain becomes itself and ``*.domain``, an IPv4 range becomes globs of
    whole octets (a range that does not end on an octet is split into the
    ranges that do), a port is dropped (cntlm's NoProxy has none). IPv6
    ranges cannot be written as globs: left out, with a warning.
    """
    globs = list(CNTLM_LOOPBACK_NO_PROXY)
    warnings = []
    for entry in entries:
        network = _ip_network(entry)
        if network is not None and "/" in entry:
            if network.version == 6:
                warnings.append("no_proxy entry %r is an IPv6 range, which cntlm's NoProxy (globs) cannot match: "
                                "cntlm sends those hosts to the upstream proxy" % entry)
                continue
            globs.extend(_ipv4_globs(network))
            continue
        host = entry if network is not None else _host_of(entry)
        while host.startswith("*.") or host.startswith("."):
            host = host[2:] if host.startswith("*.") else host[1:]
        globs.append(host)
        if _ip_network(host) is None:
            globs.append("*." + host)
    unique = {}
    for glob in globs:
        unique.setdefault(glob.lower(), glob)
    return list(unique.values()), warnings


def _ipv4_globs(network):
    """``10.*`` for 10.0.0.0/8; a prefix between octets is split into the whole-octet ranges it covers."""
    whole_octets = min(-(-network.prefixlen // 8), 4)
    globs = []
    for subnet in network.subnets(new_prefix=whole_octets * 8):
        octets = str(subnet.network_address).split(".")[:whole_octets]
        globs.append(".".join(octets + ["*"] * (4 - whole_octets)))
    return globs


def _no_proxy_list(entries):
    value, warnings = merge_no_proxy(list(entries), normalize=True)
    return (value.split(",") if value else []), warnings


def _checked_docker0(docker0):
    if docker0 in (None, ""):
        return ""
    try:
        return str(ipaddress.IPv4Address(str(docker0)))
    except ValueError:
        raise ValueError("docker0 must be the IPv4 address of the docker0 interface or empty, got %r"
                         % (docker0,)) from None


def disabled_plan(docker0=""):
    """The plan without a statement: nothing derived; docker0 as the host has it (roles used alone need it)."""
    return {
        "enabled": False,
        "cntlm": False,
        "cntlm_upstreams": [],
        "cntlm_auth": "",
        "cntlm_username": "",
        "cntlm_domain": "",
        "cntlm_workstation": "",
        "cntlm_password": "",
        "cntlm_port": 0,
        "cntlm_listen": [],
        "cntlm_no_proxy": [],
        "host_proxy": "",
        "container_proxy": "",
        "credentials": False,
        "no_proxy_go": [],
        "no_proxy_jobs": [],
        "docker0": _checked_docker0(docker0),
    }


def proxy_plan(statement, docker0=""):
    """What each place on a host derives from ``statement`` (``behindproxy_proxy``): ``(plan, warnings)``.

    ``docker0`` is the host's docker0 address, "" while Docker has not made
    it (a fresh host, check mode): containers then get no proxy URL yet and
    cntlm listens on loopback only. An undefined or empty statement gives the
    disabled plan. The keys are documented in docs/proxy-statement.md.
    """
    plan = disabled_plan(docker0)
    if statement is None or (isinstance(statement, (Mapping, str, list, tuple)) and len(statement) == 0):
        return plan, []
    checked = check_statement(statement)
    docker0 = plan["docker0"]
    direct = list(LOOPBACK_NO_PROXY) + ([docker0] if docker0 else []) + checked["no_proxy"]
    no_proxy_go = _no_proxy_list(direct)[0]
    no_proxy_jobs, warnings = _no_proxy_list(direct)
    plan.update(enabled=True, no_proxy_go=no_proxy_go, no_proxy_jobs=no_proxy_jobs)
    if checked["auth"] == "ntlm":
        port = checked["local_port"]
        cntlm_globs, cntlm_warnings = cntlm_no_proxy(checked["no_proxy"])
        warnings.extend(cntlm_warnings)
        plan.update(
            cntlm=True,
            cntlm_upstreams=checked["upstreams"],
            cntlm_auth=checked["ntlm_mode"],
            cntlm_username=checked["username"],
            cntlm_domain=checked["domain"],
            cntlm_workstation=checked["workstation"],
            cntlm_password=checked["password"],
            cntlm_port=port,
            cntlm_listen=(["%s:%d" % (docker0, port)] if docker0 else []) + ["%s:%d" % (LOOPBACK_ADDRESS, port)],
            cntlm_no_proxy=cntlm_globs,
            host_proxy="http://%s:%d" % (LOOPBACK_ADDRESS, port),
            container_proxy="http://%s:%d" % (docker0, port) if docker0 else "",
        )
        return plan, warnings
    upstream = checked["upstreams"][0]
    if len(checked["upstreams"]) > 1:
        warnings.append("%s lists %d proxies, but without cntlm (auth %s) only the first, %s, is used"
                        % (_where("upstreams"), len(checked["upstreams"]), checked["auth"], upstream))
    if checked["auth"] == "basic":
        url = basic_proxy_url(upstream, checked["username"], checked["password"])
    else:
        url = "http://" + upstream
    plan.update(host_proxy=url, container_proxy=url, credentials=checked["auth"] == "basic")
    return plan, warnings
