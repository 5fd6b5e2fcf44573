# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""apt's files as the collection writes them: a proxy for one repository's host, and that repository's one source.

apt.conf has no escapes: a value is whatever stands between two double
quotes, so a proxy URL holding ``"`` ends its value early and the rest is
read as more configuration (``APT::Update::Pre-Invoke`` runs a command as
root). Proxy URLs are therefore checked character by character
(apt_proxy_configuration), and what apt.conf cannot carry is refused with a
message that says how to write it (percent-encoded; apt decodes the user
name and password of a proxy URL).

A source list line or deb822 stanza is readable by every user of the host
(0644), so a repository URL that carries credentials is refused
(checked_repository_url); apt reads them from ``/etc/apt/auth.conf.d/`` at
0600 instead.

A repository configured twice with different ``signed-by`` keyrings stops
apt altogether ("Conflicting values set for option Signed-By"): a host set up
earlier by GitLab's own script has exactly that. taken_over() finds every
source of the repository in apt's source files, in either form, and gives
each file's text with those sources commented out, so that the one source
the collection writes is the only one left (sources_takeover).

Plain functions; errors are ValueError with a message that names what is
wrong and what is expected, a password never in it.
"""

from __future__ import annotations

import os
import re
import string
import urllib.parse
from collections import namedtuple

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._http import (
    DEFAULT_PORTS,
    UrlError,
    parse_url,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo

# The characters of a URL that an apt.conf value between double quotes carries as they are: RFC 3986's unreserved
# characters, percent-encoding, the delimiters of an authority, and those sub-delimiters apt's parser gives no
# meaning to. Not '"' (it ends the value), ';', '{', '}' (they end or open a scope once a value has ended), '$', '#'
# and '\\' (refused as well: nothing a proxy URL needs, and each has a meaning somewhere in apt's files).
APT_CONF_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~%:/@[]!&'()*+,=")
# In the user name and password: not the delimiters of the authority either ('@' ends the user info for some readers
# and not for others; '%40' is read the same way by all).
APT_CONF_USERINFO_CHARACTERS = APT_CONF_URL_CHARACTERS - frozenset('@/[]')
# The file names apt reads in sources.list.d (others are ignored, with a notice).
SOURCE_FILE_NAME = re.compile(r'[A-Za-z0-9_.-]+\.(list|sources)\Z')
SOURCE_TYPES = ('deb', 'deb-src')
TAKEN_OVER = '# Taken over by behindproxy.gitlab_runner: this repository\'s one source is in %s'
AUTH_CONF_HINT = ('give the URL without them and put them in a file of /etc/apt/auth.conf.d/ with mode 0600 '
                  '("machine HOST/PATH login USER password PASSWORD", see apt_auth.conf(5))')


def _unsafe_in_apt_conf(text, allowed=APT_CONF_URL_CHARACTERS):
    return sorted(set(character for character in text if character not in allowed))


def checked_apt_proxy(proxy, what):
    """``proxy`` ('' for none) if apt.conf can carry it between double quotes, else ValueError naming ``what``."""
    if proxy in (None, ''):
        return ''
    try:
        address = parse_url(proxy, what)
    except UrlError as error:
        raise ValueError(str(error)) from None
    expected = 'an http:// proxy URL such as http://127.0.0.1:3128, without a path'
    if address.target != '/' or urllib.parse.urlsplit(proxy).query:
        raise ValueError('%s %s has a path or query: expected %s' % (what, mask_url_userinfo(repr(proxy)), expected))
    userinfo, at, rest = urllib.parse.urlsplit(proxy).netloc.rpartition('@')
    if at and _unsafe_in_apt_conf(userinfo, APT_CONF_USERINFO_CHARACTERS):
        raise ValueError(
            "%s has a character in its user name or password that apt.conf cannot carry in a quoted value (only "
            "letters, digits and %s are taken as they are; '\"' would end the value and let the rest be read as "
            "apt configuration): percent-encode it (%%22 for '\"', %%3B for ';', %%24 for '$', %%23 for '#', %%40 "
            "for '@', %%5C for '\\', %%7B and %%7D for braces, %%20 for a space), which apt decodes, or use an "
            "account without it"
            % (what, ''.join(sorted(APT_CONF_USERINFO_CHARACTERS - set(string.ascii_letters + string.digits)))))
    bad = _unsafe_in_apt_conf(proxy[len(proxy) - len(rest):] if at else proxy)
    if bad:
        raise ValueError('%s %s has %s, which apt.conf cannot carry in a quoted value: expected %s'
                         % (what, mask_url_userinfo(repr(proxy)), ', '.join(map(repr, bad)), expected))
    return proxy


def checked_repository_url(url, what):
    """The Address of a repository ``url`` that a world-readable source list may hold, else ValueError."""
    try:
        address = parse_url(url, what)
    except UrlError as error:
        raise ValueError(str(error)) from None
    if address.username is not None:
        raise ValueError('%s %s carries credentials, which apt would show to every user of the host in its source '
                         'list (mode 0644): %s' % (what, mask_url_userinfo(repr(url)), AUTH_CONF_HINT))
    return address


def apt_proxy_configuration(repository_url, proxy, url_what='url', proxy_what='proxy'):
    """apt.conf lines that send apt to ``repository_url``'s host (alone) through ``proxy``; '' without a proxy."""
    address = checked_repository_url(repository_url, url_what)
    proxy = checked_apt_proxy(proxy, proxy_what)
    if not proxy:
        return ''
    if ':' in address.name:
        # apt.conf keys are split at '::': an IPv6 address cannot name a host in one.
        raise ValueError('%s %r has an IPv6 address, which apt cannot give a proxy of its own: expected a host name'
                         % (url_what, repository_url))
    return ''.join('Acquire::%s::Proxy::%s "%s";\n' % (scheme, address.name, proxy) for scheme in ('http', 'https'))


# ---------------------------------------------------------------- sources

# One source in a file: ``first`` and ``last`` the indexes of its lines, ``uris`` the URIs it names.
Source = namedtuple('Source', 'first last uris enabled')


def repository_key(uri):
    """What makes two URIs one repository for apt's sources: host, port when not the default, and path.

    The scheme is left out: the same repository by http and by https would
    be two sources with keyrings of their own. None for a URI without a host
    (cdrom:, file:).
    """
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname
    if not host:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.rpartition('+')[2].lower()
    if port == DEFAULT_PORTS.get(scheme):
        port = None
    return host.lower(), port, parts.path.rstrip('/') + '/'


def one_line_sources(text):
    """The sources of a one-line-style file (sources.list, ``*.list``): ``deb [options] uri suite [components]``."""
    sources = []
    for index, line in enumerate(text.splitlines()):
        words = line.split('#', 1)[0].split()
        if len(words) < 2 or words[0] not in SOURCE_TYPES:
            continue
        position = 1
        if words[1].startswith('['):
            while position < len(words) and not words[position].endswith(']'):
                position += 1
            position += 1
        if position < len(words):
            sources.append(Source(index, index, (words[position],), True))
    return sources


def deb822_sources(text):
    """The sources (stanzas) of a deb822-style file (``*.sources``), each with its URIs and whether it is enabled."""
    sources = []
    lines = text.splitlines()
    stanza = []

    def close():
        fields, name = {}, None
        for index in stanza:
            line = lines[index]
            if line[:1] in (' ', '\t') and name:
                fields[name] += ' ' + line.strip()
            elif ':' in line:
                name, dummy, value = line.partition(':')
                name = name.strip().lower()
                fields[name] = value.strip()
        if fields:
            sources.append(Source(stanza[0], stanza[-1], tuple(fields.get('uris', '').split()),
                                  fields.get('enabled', 'yes').strip().lower() not in ('no', 'false', '0')))

    for index, line in enumerate(lines):
        if not line.strip():
            close()
            stanza = []
        elif not line.lstrip().startswith('#'):
            stanza.append(index)
    close()
    return sources


def sources_of(path, text):
    return deb822_sources(text) if path.endswith('.sources') else one_line_sources(text)


def source_files(sources_list, sources_dir):
    """apt's source files, as apt reads them: sources.list and the well-named files of sources.list.d, in order."""
    files = [sources_list] if os.path.isfile(sources_list) else []
    try:
        names = sorted(os.listdir(sources_dir))
    except FileNotFoundError:
        names = []
    files.extend(os.path.join(sources_dir, name) for name in names
                 if SOURCE_FILE_NAME.match(name) and os.path.isfile(os.path.join(sources_dir, name)))
    return files


def taken_over(path, text, url, own_path):
    """(``text`` with the sources of ``url``'s repository commented out, the lines taken over), or ValueError.

    A deb822 stanza that names other URIs too cannot be taken over without
    taking them along: that is an error naming the file and the line, raised
    before anything is written. Disabled stanzas are left alone (apt does
    not read them).
    """
    wanted = repository_key(url)
    lines = text.splitlines(keepends=True)
    matching = []
    for source in sources_of(path, text):
        ours = [uri for uri in source.uris if repository_key(uri) == wanted]
        if not ours or not source.enabled:
            continue
        if len(ours) != len(source.uris):
            raise ValueError(
                '%s line %d holds a source of %s together with other repositories (%s): it cannot be taken over '
                'alone. Move that repository into a stanza of its own, or remove it, and run again.'
                % (path, source.first + 1, mask_url_userinfo(url),
                   mask_url_userinfo(', '.join(uri for uri in source.uris if uri not in ours))))
        matching.append(source)
    if not matching:
        return text, []
    result, taken = [], []
    starts = dict((source.first, source) for source in matching)
    inside = None
    for index, line in enumerate(lines):
        if index in starts:
            inside = starts[index]
            result.append(TAKEN_OVER % own_path + '\n')
        if inside is not None and inside.first <= index <= inside.last:
            result.append('# ' + line if line.strip() else line)
            taken.append(line.rstrip('\n'))
            if not line.endswith('\n'):
                result.append('\n')
            if index == inside.last:
                inside = None
        else:
            result.append(line)
    return ''.join(result), taken


def one_line_source(url, suite, components, signed_by):
    """The one-line source of a repository with its keyring; ValueError for a part that does not fit one."""
    for what, value in (('suite', suite), ('signed_by', signed_by)):
        if not isinstance(value, str) or not value or re.search(r'[\s\]#]', value):
            raise ValueError('%s must be one word without spaces, "]" or "#", got %r' % (what, value))
    if not components or any(not isinstance(part, str) or not part or re.search(r'[\s#]', part)
                             for part in components):
        raise ValueError('components must be a list of words without spaces or "#", got %r' % (components,))
    return 'deb [signed-by=%s] %s %s %s\n' % (signed_by, url, suite, ' '.join(components))
