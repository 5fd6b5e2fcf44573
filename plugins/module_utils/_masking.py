# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Masking of secrets in text and data that modules return or show as a diff.

One walk serves config.toml and JSON alike. The document modules only parse
(their text into data, one string literal into its value) and serialize (a
string value back into a literal); what is a secret, and where it shows, is
decided here:

- the value of every secret-bearing key, at any depth, and everything under
  such a key;
- the value of every ``NAME=value`` string whose NAME is such a key (runner
  environment, docker-machine options);
- the password of every ``scheme://user:password@host`` URL, read as Go's
  url.Parse reads it (the user info ends at the last "@" of the authority),
  and of every proxy without a scheme, which Go reads as an http:// URL;
- the secrets the caller knows (the module's own arguments).

Each string literal of the text is decoded, masked as a value and written
back only when something in it was masked, so the rest of the text, layout
and comments included, is shown as it is. Secrets found anywhere in the
document are masked wherever else they appear in the text (other strings,
comments, keys). A text that does not parse is masked line by line instead
(mask_unparsed_text): never shown raw.

Everything here runs in time linear in the length of the text.
"""

from __future__ import annotations

import re
import string
from collections import namedtuple
from collections.abc import Mapping

MASK = '********'

# How mask_document_text reads one file format: ``load(text)`` returns the
# data or raises ValueError; ``literals`` is a pattern whose ``string`` group
# matches each string literal (keys included) and whose optional ``comment``
# group matches each comment; ``decode(literal)`` returns the value of one
# literal and ``encode(value)`` writes one.
TextFormat = namedtuple('TextFormat', 'load literals decode encode')

# A secret this long or longer is also masked inside other text (another
# string value, a comment, a key); a shorter one only where it is a whole
# string value: replacing every "p" of a one-letter password would garble the
# diff and hide nothing.
EMBEDDED_SECRET_MIN_LENGTH = 4

_SCHEME_CHARS = frozenset(string.ascii_letters + string.digits + '+.-')
_LETTERS = frozenset(string.ascii_letters)
# The authority of a URL (what follows "://") ends at the first "/", "?" or
# "#", as Go's url.Parse (dockerd, the runner) and Python's urlsplit read it;
# in text a URL also ends at white space and, outside a decoded value, at a
# double quote (a JSON or TOML string's end).
_AUTHORITY_IN_TEXT = re.compile(r'[^/?#\s"]*')
_AUTHORITY_IN_VALUE = re.compile(r'[^/?#\s]*')
# Keys and variables whose value is a proxy; a proxy without a scheme is an
# http:// one to Go's ProxyFromEnvironment (dockerd, the runner) and to curl.
_PROXY_NAME = re.compile(r'(?:(?:https?|ftp|all)[_-]?)?proxy', re.IGNORECASE)

# Unparsed text: the start of each quoted value, a single-line one whole.
_QUOTED = re.compile(r'"""|\'\'\'|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"?|\'[^\'\r\n]*\'?')
# Unparsed text: an unquoted value after "=" or ":".
_BARE_VALUE = re.compile(r'(?P<lead>[=:][ \t]*)[^\s"\'#,{}\[\]]+')
_KEY_FOLLOWS = re.compile(r'[ \t]*[.=:]')
_LINES = re.compile(r'[^\n]*\n?')


# ------------------------------------------------------------ URL passwords

def _ends_with_scheme(text, end):
    """Whether a URL scheme (``[A-Za-z][A-Za-z0-9+.-]*``) ends just before ``end``."""
    index = end - 1
    while index >= 0 and text[index] in _SCHEME_CHARS:
        if text[index] in _LETTERS:
            return True
        index -= 1
    return False


def _password_spans(text, authority=_AUTHORITY_IN_TEXT):
    """(start, end) of the password of each ``scheme://user:password@host`` in ``text``.

    Read as Go's url.Parse reads a URL: the user info ends at the LAST "@" of
    the authority (a password may hold "@" and "'"), the password starts
    after its first ":". Each "://" is looked at once, its scheme read
    backwards and its authority forwards; an authority holds no "/", so it
    never stretches past the next "://" and the whole search is linear.
    """
    start = 0
    while True:
        at = text.find('://', start)
        if at < 0:
            return
        if not _ends_with_scheme(text, at):
            # No URL starts here; its would-be authority may hold the next
            # URL's scheme ("://http://u:p@h"): look on from the next character.
            start = at + 1
            continue
        begin = at + 3
        end = authority.match(text, begin).end()
        userinfo_end = text.rfind('@', begin, end)
        colon = text.find(':', begin, userinfo_end) if userinfo_end >= 0 else -1
        if colon >= 0:
            yield colon + 1, userinfo_end
        start = end


def _mask_spans(text, spans):
    pieces = []
    last = 0
    for start, end in spans:
        pieces.append(text[last:start])
        pieces.append(MASK)
        last = end
    if not pieces:
        return text
    pieces.append(text[last:])
    return ''.join(pieces)


def mask_url_userinfo(text):
    """Replace the password of every ``scheme://user:password@host`` in ``text`` (a message, a line)."""
    return _mask_spans(text, _password_spans(text))


def _mask_value_userinfo(value):
    """Replace the password of every URL in one decoded string value (where a double quote is no end)."""
    return _mask_spans(value, _password_spans(value, _AUTHORITY_IN_VALUE))


def url_passwords(text):
    """The non-empty passwords of the ``scheme://user:password@host`` URLs in one string value."""
    return [text[start:end] for start, end in _password_spans(text, _AUTHORITY_IN_VALUE) if end > start]


def _proxy_as_url(value):
    """A proxy value as the URL Go and curl read: ``http://`` added when it has no scheme."""
    return value if '://' in value else 'http://' + value


# ------------------------------------------------------- finding secrets

def _names(secret_keys):
    return frozenset(name.lower() for name in secret_keys)


def _assigned_secret(text, names):
    """The value of a ``NAME=value`` string whose NAME is a secret key, or None."""
    name, equals, value = text.partition('=')
    if equals and value and name.lower() in names:
        return value
    return None


def _scheme_less_proxy(text, proxy):
    """The value of a proxy without a scheme: ``text`` itself when ``proxy`` (under a proxy key), else the
    value of a ``NAME=value`` string whose NAME is a proxy variable; None for anything else."""
    if not proxy:
        name, equals, text = text.partition('=')
        if not equals or not _PROXY_NAME.fullmatch(name):
            return None
    return text if text and '://' not in text else None


def _scheme_less_proxy_passwords(text, proxy):
    value = _scheme_less_proxy(text, proxy)
    return url_passwords(_proxy_as_url(value)) if value is not None else []


def _mask_scheme_less_proxy(text, proxy):
    """``text`` with the password of its proxy without a scheme (see _scheme_less_proxy) masked."""
    value = _scheme_less_proxy(text, proxy)
    if value is None:
        return text
    masked = _mask_value_userinfo(_proxy_as_url(value))[len('http://'):]
    return text[:len(text) - len(value)] + masked


def _is_proxy_key(key):
    return isinstance(key, str) and _PROXY_NAME.fullmatch(key) is not None


def secret_values(value, secret_keys):
    """Every secret in parsed data or a module's parameters.

    The values under keys named in ``secret_keys`` (compared without regard
    to case; every string at any depth below them, and every number or date
    of EMBEDDED_SECRET_MIN_LENGTH characters or more), the value
    of each ``NAME=value`` string whose NAME is one of them, and the password
    of every ``scheme://user:password@host`` URL anywhere in ``value`` - and
    of each proxy without a scheme (``user:password@host:port`` under a key
    such as ``proxy``, ``https-proxy`` or ``httpProxy``, or in a
    ``HTTP_PROXY=...`` string), which Go and curl read as an http:// URL. Given to
    AnsibleModule.no_log_values, they are masked in all the module returns,
    its ``invocation`` (the echo of its arguments) included.
    """
    names = _names(secret_keys)
    found = set()
    stack = [(value, False, False)]
    while stack:
        item, secret, proxy = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((child, secret or (isinstance(key, str) and key.lower() in names), _is_proxy_key(key))
                         for key, child in item.items())
        elif isinstance(item, (list, tuple)):
            stack.extend((child, secret, proxy) for child in item)
        elif isinstance(item, str):
            if not item:
                continue
            assigned = item if secret else _assigned_secret(item, names)
            if assigned:
                found.add(assigned)
            found.update(url_passwords(item))
            found.update(_scheme_less_proxy_passwords(item, proxy))
        elif secret and item is not None and not isinstance(item, bool) and len(str(item)) >= EMBEDDED_SECRET_MIN_LENGTH:
            # A number or date; a short one would mask every digit like it in the output.
            found.add(str(item))
    return found


def _any_of(words):
    """A pattern that finds each of ``words`` (the longest where several start at one place), or None.

    The words are laid out as a trie, ``glrt-(?:abc|xyz)``, so that finding
    them costs about the same for thousands of tokens as for one; a plain
    alternation would try every word at every position.
    """
    words = list(words)
    trie = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[''] = {}
    if not trie:
        return None
    try:
        return re.compile(_trie_pattern(trie))
    except (RecursionError, re.error, OverflowError):
        # Words nested too deeply for the re module: each one on its own, longest first.
        return re.compile('|'.join(re.escape(word) for word in sorted(words, key=len, reverse=True)))


def _trie_pattern(node):
    branches = []
    for char in sorted(key for key in node if key):
        run = char
        child = node[char]
        while len(child) == 1 and '' not in child:
            char, child = next(iter(child.items()))
            run += char
        branches.append(re.escape(run) + _trie_pattern(child))
    if not branches:
        return ''
    pattern = branches[0] if len(branches) == 1 else '(?:%s)' % '|'.join(branches)
    return '(?:%s)?' % pattern if '' in node else pattern


class _Masker:
    """Masks known secrets and URL passwords in values and in text."""

    def __init__(self, secrets, secret_keys):
        self.names = _names(secret_keys)
        self.whole = frozenset(secret for secret in secrets if isinstance(secret, str) and secret)
        self.embedded = _any_of(secret for secret in self.whole if len(secret) >= EMBEDDED_SECRET_MIN_LENGTH)
        self.mentions = (re.compile('|'.join(re.escape(name) for name in sorted(self.names, key=len, reverse=True)),
                                    re.IGNORECASE) if self.names else None)

    def _embedded(self, text):
        return text if self.embedded is None else self.embedded.sub(MASK, text)

    def text(self, text):
        """``text`` with the longer secrets and every URL password masked."""
        return mask_url_userinfo(self._embedded(text))

    def value(self, value, proxy=False):
        """A string value (``proxy``: under a proxy key) with its secrets masked (MASK alone if it is one)."""
        if value in self.whole:
            return MASK
        assigned = _assigned_secret(value, self.names)
        if assigned is not None:
            value = value[:-len(assigned)] + MASK
        return _mask_value_userinfo(_mask_scheme_less_proxy(self._embedded(value), proxy))


def mask_value(value, secret_keys, convert=None):
    """A copy of parsed data with its secrets masked, for a module to return.

    Everything under a secret key (but an empty string) becomes MASK; in other
    strings the secrets found anywhere in ``value`` and URL passwords are
    masked. ``convert`` turns the other scalars into what may be returned.
    """
    masker = _Masker(secret_values(value, secret_keys), secret_keys)

    def walk(item, secret, proxy):
        if isinstance(item, Mapping):
            return dict((key, walk(child, secret or (isinstance(key, str) and key.lower() in masker.names),
                                   _is_proxy_key(key)))
                        for key, child in item.items())
        if isinstance(item, (list, tuple)):
            return [walk(child, secret, proxy) for child in item]
        if secret and not (item is None or (isinstance(item, str) and not item)):
            return MASK
        if isinstance(item, str):
            return masker.value(item, proxy)
        return convert(item) if convert else item

    return walk(value, False, False)


# --------------------------------------------------------- masking text

def mask_document_text(text, text_format, secret_keys, known=()):
    """``text`` of a document in ``text_format`` (a TextFormat) with its secrets masked, for a diff.

    ``known`` are more secrets to mask wherever they appear (the module's
    arguments).
    """
    try:
        data = text_format.load(text)
    except (ValueError, RecursionError):
        return mask_unparsed_text(text, secret_keys, known)
    masker = _Masker(secret_values(data, secret_keys) | set(known or ()), secret_keys)
    pieces = []
    last = 0
    for match in text_format.literals.finditer(text):
        pieces.append(masker.text(text[last:match.start()]))
        literal = match.group()
        if match.lastgroup == 'comment':
            pieces.append(_mask_unparsed(literal, masker))
        else:
            try:
                value = text_format.decode(literal)
            except (ValueError, KeyError):
                value = None
            if not isinstance(value, str):
                pieces.append(text_format.encode(MASK))
            else:
                masked = masker.value(value)
                pieces.append(literal if masked == value else text_format.encode(masked))
        last = match.end()
    pieces.append(masker.text(text[last:]))
    return ''.join(pieces)


def mask_unparsed_text(text, secret_keys, known=()):
    """Text that does not parse, masked line by line.

    On each line that mentions a secret key (in any case, as part of a longer
    word too), every quoted value - one that spans lines from its first quote
    to its last - and every unquoted value after "=" or ":" is masked; in the
    whole text, the ``known`` secrets and every URL password.
    """
    return _mask_unparsed(text, _Masker(known or (), secret_keys))


def _mask_unparsed(text, masker):
    lines = _LineCache(text, masker.mentions)
    pieces = []
    position = 0
    while True:
        match = _QUOTED.search(text, position)
        start = len(text) if match is None else match.start()
        for line in _LINES.finditer(text, position, start):
            fragment = line.group()
            if fragment and lines.secret(line.start()):
                fragment = _BARE_VALUE.sub(lambda value: value.group('lead') + MASK, fragment)
            pieces.append(masker.text(fragment))
        if match is None:
            return ''.join(pieces)
        quoted = match.group()
        end = match.end()
        if quoted in ('"""', "'''"):
            close = text.find(quoted, end)
            end = len(text) if close < 0 else close + 3
            quoted = text[start:end]
        inner = quoted.strip(quoted[0])
        if inner in masker.whole or (lines.secret(start) and not (inner.lower() in masker.names and _KEY_FOLLOWS.match(text, end))):
            pieces.append('"%s"' % MASK)
        else:
            pieces.append(masker.text(quoted))
        position = end


class _LineCache:
    """Whether the line around a position mentions a secret key, for positions that only grow."""

    def __init__(self, text, mentions):
        self.text = text
        self.mentions = mentions
        self.start = self.end = 0
        self.mentioned = False

    def secret(self, position):
        if self.mentions is None:
            return False
        if not self.start <= position < self.end:
            # Search back no further than the end of the line seen last.
            lowest = self.end if position >= self.end else 0
            self.start = self.text.rfind('\n', lowest, position) + 1 or lowest
            self.end = self.text.find('\n', position) + 1 or len(self.text)
            self.mentioned = self.mentions.search(self.text, self.start, self.end) is not None
        return self.mentioned
