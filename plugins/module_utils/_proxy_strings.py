# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Proxy strings every role needs: the job's Docker client config script,
the proxy environment in both cases, and NO_PROXY lists.

Plain functions, no Ansible imports, so filters and modules share them.
Errors are ValueError with a message that names the bad value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping

DOCKER_CLIENT_PROXY_KEYS = ("httpProxy", "httpsProxy", "noProxy", "ftpProxy", "allProxy")
DEFAULT_PROXY_VARIABLES = {"httpProxy": "HTTP_PROXY", "httpsProxy": "HTTPS_PROXY", "noProxy": "NO_PROXY"}
DEFAULT_DOCKER_CONFIG_PATH = "$HOME/.docker/config.json"

PROXY_ENV_NAMES = ("http_proxy", "https_proxy", "no_proxy")

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The only expansions a path may hold: $NAME and ${NAME}. Any other $ starts
# a command substitution, arithmetic, a parameter operator (${X:-$(...)})
# or a special parameter, and is refused.
_PATH_VARIABLE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})")
_CHARACTERS_SPECIAL_IN_DOUBLE_QUOTES = ('"', "\\", "`")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")

# Sets $json_controls to a sed script that writes each control character
# other than line feed as \u00XX. printf makes the raw bytes from octal
# escapes, so the command itself stays printable and on one line.
_SH_JSON_CONTROLS = "json_controls=$(printf '%s')" % "".join(
    "s/\\%03o/\\\\\\\\u%04x/g;" % (code, code) for code in range(1, 32) if code != 10)

# Appends its argument to $json as a JSON string, in one pass whatever its
# length: sed doubles backslashes, escapes quotes and control characters
# and ends every line but the last with \n; tr joins the lines. The "."
# appended to the value keeps its trailing line feeds from being taken for
# line ends (and from $(...), which strips them). LC_ALL=C makes sed work on
# bytes, so UTF-8 text (or anything else) is copied unchanged.
_SH_JSON_STRING_FUNCTION = (
    "json_string() { escaped=$(printf '%s.' \"$1\" | LC_ALL=C sed -e 's/\\\\/\\\\\\\\/g' -e 's/\"/\\\\\"/g' "
    "-e \"$json_controls\" -e '$!s/$/\\\\n/' | tr -d '\\n') || return; "
    "json=\"$json\\\"${escaped%.}\\\"\"; }"
)

# The escaping needs sed and tr: every image with a POSIX shell has them
# (Debian's and Ubuntu's are essential packages, Alpine's and busybox
# images' are busybox applets). Without them the command fails loudly
# instead of writing empty values.
_SH_REQUIRE_TOOLS = ("command -v sed >/dev/null 2>&1 && command -v tr >/dev/null 2>&1 || "
                     "{ echo 'docker_proxy_script: this command needs sed and tr in the job image' >&2; exit 127; }")


def shell_single_quote(text: str) -> str:
    """``text`` as one single-quoted POSIX shell word (nothing inside is expanded)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _checked_client_proxies(proxies: object, what: str) -> dict[str, str]:
    if not isinstance(proxies, Mapping):
        raise ValueError("proxies must be a mapping of Docker client proxy keys (%s), got %s"
                         % (", ".join(DOCKER_CLIENT_PROXY_KEYS), type(proxies).__name__))
    checked = {}
    for key, value in proxies.items():
        if key not in DOCKER_CLIENT_PROXY_KEYS:
            raise ValueError("unknown Docker client proxy key %r: expected one of %s"
                             % (key, ", ".join(DOCKER_CLIENT_PROXY_KEYS)))
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError("proxies.%s must be %s, got %s %r" % (key, what, type(value).__name__, value))
        checked[key] = value
    return checked


def _checked_path(path: object) -> str:
    """``path``, if it is safe inside double quotes in the shell; ValueError naming it otherwise.

    Inside double quotes only $, backticks, backslashes and double quotes are
    special. $NAME and ${NAME} are allowed (that is the point of expanding
    the path); the other three characters, any other $, control characters
    and a leading - (mkdir and dirname would read an option) are refused.
    """
    if not isinstance(path, str) or not path.strip():
        raise ValueError("path must be a non-empty string such as %r, got %r" % (DEFAULT_DOCKER_CONFIG_PATH, path))
    unsafe = [character for character in _CHARACTERS_SPECIAL_IN_DOUBLE_QUOTES if character in path]
    if unsafe:
        raise ValueError("path %r contains %s: it is placed inside double quotes in the shell command, "
                         "so it may use $VARIABLES but not quotes, backslashes, backticks or line breaks"
                         % (path, ", ".join(repr(character) for character in unsafe)))
    control = _CONTROL_CHARACTER.search(path)
    if control:
        raise ValueError("path %r contains the control character %r: line breaks, tabs and other control "
                         "characters are refused" % (path, control.group()))
    if "$" in _PATH_VARIABLE.sub("", path):
        raise ValueError("path %r has a $ that does not start a plain $NAME or ${NAME}: command substitution "
                         "$(...), arithmetic $((...)), parameter operators such as ${NAME:-word} and special "
                         "parameters ($1, $$, $?) would run or expand in the job's shell, so they are refused"
                         % (path,))
    if path.startswith("-"):
        raise ValueError("path %r starts with '-', which mkdir and dirname would read as an option: "
                         "write './%s'" % (path, path))
    return path


def docker_proxy_script(proxies: Mapping | None, from_env: bool = False,
                        path: str = DEFAULT_DOCKER_CONFIG_PATH) -> str:
    """The one-line shell command that writes ``{"proxies": {"default": PROXIES}}`` to ``path``.

    With ``from_env`` false, ``proxies`` maps client keys to literal values,
    which end up single-quoted. With ``from_env`` true, it maps client keys to
    environment variable names (empty or None: HTTP_PROXY, HTTPS_PROXY,
    NO_PROXY) read and JSON-escaped when the command runs; an unset variable
    gives "". ``path`` is expanded by the shell (inside double quotes).
    Everything runs in a subshell with umask 077, so the job's shell keeps
    its variables and the file (which may hold proxy credentials) is 0600.
    Every value reaches the shell quoted: literals and the JSON in single
    quotes, the path in double quotes after _checked_path refused anything
    but plain $NAME expansions in it, variable names after a name check.
    """
    if not isinstance(from_env, bool):
        raise ValueError("from_env must be true or false, got %r" % (from_env,))
    target = _checked_path(path)
    if from_env:
        return _docker_proxy_script_from_env(proxies or DEFAULT_PROXY_VARIABLES, target)
    literal = _checked_client_proxies(proxies if proxies is not None else {}, "a string")
    if not literal:
        raise ValueError("proxies is empty: give at least one of %s, or from_env=true"
                         % ", ".join(DOCKER_CLIENT_PROXY_KEYS))
    document = json.dumps({"proxies": {"default": literal}}, ensure_ascii=True, separators=(",", ":"))
    return '(umask 077 && mkdir -p "$(dirname "%s")" && printf \'%%s\\n\' %s > "%s")' % (
        target, shell_single_quote(document), target)


def _docker_proxy_script_from_env(proxies: Mapping, target: str) -> str:
    variables = _checked_client_proxies(proxies, "an environment variable name")
    if not variables:
        raise ValueError("proxies maps every key to null: map at least one of %s to a variable, "
                         "or give an empty mapping for the defaults" % ", ".join(DOCKER_CLIENT_PROXY_KEYS))
    for key, name in variables.items():
        if not _VARIABLE_NAME.match(name):
            raise ValueError("proxies.%s must name an environment variable (letters, digits, _), got %r"
                             % (key, name))
    # Everything the command reads is captured as positional parameters first:
    # the helper's own variables may not shadow a variable it still has to read.
    captured = " ".join('"${%s-}"' % name for name in variables.values())
    steps = ["umask 077", 'set -- "%s" %s' % (target, captured), _SH_REQUIRE_TOOLS, _SH_JSON_CONTROLS,
             _SH_JSON_STRING_FUNCTION,
             "json='{\"proxies\":{\"default\":{'"]
    for position, key in enumerate(variables, start=2):
        separator = "," if position > 2 else ""
        steps.append("json=\"$json\"'%s\"%s\":'" % (separator, key))
        steps.append('json_string "$%d"' % position)
    steps.append('mkdir -p "$(dirname "$1")" && printf \'%s\\n\' "$json}}}" > "$1"')
    return "(" + "; ".join(steps) + ")"


def proxy_environment(proxies: object) -> dict[str, str]:
    """``{HTTP_PROXY, http_proxy, HTTPS_PROXY, https_proxy, NO_PROXY, no_proxy}`` from either case.

    Both cases always get the same value: tools disagree on which case wins
    when they differ (Go programs such as dockerd and the runner prefer the
    upper case; curl, git, Python's urllib and requests the lower case; wget
    reads only the lower case). A name given in both cases with different values is an error;
    None values are left out; a list for no_proxy is merged with merge_no_proxy.
    """
    if not isinstance(proxies, Mapping):
        raise ValueError("proxies must be a mapping with http_proxy, https_proxy and/or no_proxy, got %s"
                         % type(proxies).__name__)
    values: dict[str, tuple[str, str]] = {}
    for key, value in proxies.items():
        name = key.lower() if isinstance(key, str) else key
        if name not in PROXY_ENV_NAMES:
            raise ValueError("unknown proxy variable %r: expected http_proxy, https_proxy or no_proxy "
                             "(either case)" % (key,))
        if value is None:
            continue
        if name == "no_proxy" and isinstance(value, (list, tuple)):
            value = merge_no_proxy(value)[0]
        if not isinstance(value, str):
            raise ValueError("%s must be a string, got %s" % (key, type(value).__name__))
        if name in values and values[name][1] != value:
            raise ValueError("%s and %s are both given, with different values: give one, both cases get it"
                             % (values[name][0], key))
        values[name] = (key, value)
    environment = {}
    for name in PROXY_ENV_NAMES:
        if name in values:
            environment[name.upper()] = values[name][1]
            environment[name] = values[name][1]
    return environment


def proxy_env_list(proxies: object) -> list[str]:
    """proxy_environment() as the runner's ``environment`` list of ``NAME=value`` strings."""
    return ["%s=%s" % item for item in proxy_environment(proxies).items()]


def _no_proxy_items(source: object, position: int) -> list[str]:
    if source is None:
        return []
    if isinstance(source, str):
        return source.split(",")
    if isinstance(source, (list, tuple)):
        items = []
        for item in source:
            if not isinstance(item, str):
                raise ValueError("no_proxy argument %d holds %s %r: entries must be strings"
                                 % (position, type(item).__name__, item))
            items.extend(item.split(","))
        return items
    raise ValueError("no_proxy argument %d must be a list or a comma-separated string, got %s %r"
                     % (position, type(source).__name__, source))


def _is_cidr(entry: str) -> bool:
    if "/" not in entry:
        return False
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def _has_port(entry: str) -> bool:
    if entry.startswith("["):
        return re.match(r"^\[[^\]]+\]:\d+$", entry) is not None
    return entry.count(":") == 1 and entry.rsplit(":", 1)[1].isdigit()


def no_proxy_warning(entry: str) -> str | None:
    """Why some tools ignore this NO_PROXY entry, or None.

    Go's matcher (dockerd, the runner, the registry) takes CIDR ranges and
    ``*.domain``; curl and git take CIDR from curl 7.86 only and no ``*.``;
    Python's urllib and wget take neither; and for Go and wget a leading dot
    leaves the apex itself out.
    """
    if _is_cidr(entry):
        return ("NO_PROXY entry %r is a CIDR range: Python's urllib and wget ignore it, curl and git "
                "need curl 7.86 or newer; list the hosts or domains instead" % entry)
    if entry.startswith("*."):
        return ("NO_PROXY entry %r starts with '*.': only Go programs (dockerd, the runner) honour it, "
                "curl, git, requests, urllib and wget ignore it; write %r (it covers subdomains)"
                % (entry, entry[2:]))
    if entry.startswith("."):
        return ("NO_PROXY entry %r starts with '.': Go programs and wget then skip the proxy for "
                "subdomains only, not for %r itself; write %r" % (entry, entry[1:], entry[1:]))
    if entry == "*":
        return "NO_PROXY entry '*' turns the proxy off for everything, but wget ignores it"
    if _has_port(entry):
        return ("NO_PROXY entry %r has a port: curl, git and wget never match entries with a port "
                "(Go, requests and urllib do)" % entry)
    return None


def _normalized_no_proxy_entry(entry: str) -> str:
    """``x`` for ``*.x`` and ``.x``, repeated so that ``*.*.x`` and ``..x`` become ``x`` too."""
    while (entry.startswith("*.") and len(entry) > 2) or (entry.startswith(".") and len(entry) > 1):
        entry = entry[2:].strip() if entry.startswith("*.") else entry[1:].strip()
    return entry


def merge_no_proxy(entries: object, *more: object, normalize: bool = False) -> tuple[str, list[str]]:
    """Merge NO_PROXY lists: ``(comma string, warnings)``.

    Each argument is a list or a comma-separated string (None counts as
    empty). Entries are stripped, empty ones dropped, duplicates removed
    ignoring case (the first spelling and position win). ``normalize``
    rewrites ``*.x`` and ``.x`` to ``x``, which every tool reads as x and its
    subdomains. Warnings name each entry that some tools ignore.
    """
    merged: dict[str, str] = {}
    for position, source in enumerate((entries,) + more, start=1):
        for item in _no_proxy_items(source, position):
            entry = item.strip()
            if normalize:
                entry = _normalized_no_proxy_entry(entry)
            if entry and entry.lower() not in merged:
                merged[entry.lower()] = entry
    warnings = [warning for warning in map(no_proxy_warning, merged.values()) if warning]
    return ",".join(merged.values()), warnings
