# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Structural edits of GitLab Runner's config.toml, for the runner_config module.

Each edit is applied twice: to the tomlkit document, which keeps comments,
quoting and order byte-for-byte, and to the plain data that tomllib parsed.
The text tomlkit writes is parsed again with tomllib and must give exactly
that plain data: tomlkit accepts some documents (and can produce some) that a
strict TOML 1.0 parser such as the runner's refuses, and nothing of that kind
may reach the disk.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import traceback
from collections.abc import Mapping

try:
    import tomllib
except ImportError:  # Python < 3.11 on the managed host
    tomllib = None

try:
    import tomlkit
    from tomlkit.items import AoT, Table
except ImportError:
    tomlkit = None
    TOMLKIT_IMPORT_ERROR = traceback.format_exc()
else:
    TOMLKIT_IMPORT_ERROR = None

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import (
    TextFormat,
    mask_document_text,
    mask_url_userinfo,
    mask_value,
)
# MASK is part of this module's interface.
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._plain_data import plain as _plain
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import MASK  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_config_keys import (
    type_error_messages,
    unknown_key_messages,
    unknown_keys,
)

UTF8_BOM = '\ufeff'
RUNNER_INDENT = '  '

# Keys of config.toml whose values are credentials, from the runner's
# configuration structs, and the NAMEs of ``NAME=value`` entries (a runner's
# ``environment``, docker-machine's ``MachineOptions``) whose value is one.
# Compared without regard to case; everything below such a key is masked.
# Paths to key and certificate files (``tls-key-file``, ``ca_file``,
# ``CredentialsFile``) and account names (GCS ``AccessID``, Azure
# ``AccountName``) are not secrets and stay visible.
SECRET_KEYS = frozenset((
    'token',                        # [[runners]]: the runner authentication token (glrt-...)
    'registration_token',           # REGISTRATION_TOKEN=... for `gitlab-runner register`
    'bearer_token',                 # [runners.kubernetes]
    'AccessKey',                    # [runners.cache.s3]: half of the key pair, kept private too
    'SecretKey',                    # [runners.cache.s3]
    'SessionToken',                 # [runners.cache.s3]
    'PrivateKey',                   # [runners.cache.gcs]
    'AccountKey',                   # [runners.cache.azure]
    'password',                     # [runners.autoscaler.connector_config]
    'DOCKER_AUTH_CONFIG',           # environment: registry credentials for the job's images
    'amazonec2-access-key',         # MachineOptions of the docker-machine drivers
    'amazonec2-secret-key',
    'amazonec2-session-token',
    'digitalocean-access-token',
    'azure-client-secret',
    'exoscale-api-secret-key',
    'openstack-password',
    'vmwarevsphere-password',
))

_LONE_LF = re.compile(r'(?<!\r)\n')
# The runner splits each NAME=value entry at its first "="; whitespace and
# control characters make names no shell or program can read.
_UNUSABLE_IN_VARIABLE_NAME = re.compile(r'[=\s\x00-\x1f\x7f]')


class TomlDocumentError(ValueError):
    """The document on disk, the requested edit or its result is not acceptable.

    The message may quote the document or the module's arguments: the
    password of every URL in it is masked.
    """

    def __init__(self, message):
        super().__init__(mask_url_userinfo(message))


def require_libraries():
    """Name of the missing library the edit needs, or None."""
    if tomlkit is None:
        return 'tomlkit'
    if tomllib is None:
        return 'tomllib (Python 3.11 or newer)'
    return None


# String literals and comments of valid TOML, for masking: outside a string
# a quote always starts one, and outside a comment "#" always starts one.
# Written as "normal* (special normal*)*", which Python's re runs in linear
# time (an alternation repeated per character does not).
_TOML_LITERALS = re.compile(r'''
    (?P<comment>\#[^\r\n]*)
  | (?P<string>"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""(?:""?)?
  | \'\'\'[^\']*(?:\'(?!\'\')[^\']*)*\'\'\'(?:\'\'?)?
  | "[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"
  | \'[^\'\r\n]*\')
''', re.VERBOSE)


def _load_for_masking(text):
    if tomllib is None:
        raise ValueError('tomllib is not available')
    return tomllib.loads(text[len(UTF8_BOM):] if text.startswith(UTF8_BOM) else text)


def _decode_toml_string(literal):
    if literal[:3] not in ('"""', "'''") and (literal[0] == "'" or '\\' not in literal):
        return literal[1:-1]
    return tomllib.loads('v = ' + literal)['v']


def _encode_toml_string(value):
    # A JSON string is a TOML basic string, but for DEL, which TOML wants escaped.
    return json.dumps(value, ensure_ascii=False).replace('\x7f', '\\u007f')


TOML_TEXT = TextFormat(_load_for_masking, _TOML_LITERALS, _decode_toml_string, _encode_toml_string)


def mask_config_text(text, known=()):
    """config.toml text with its secrets masked, for diffs.

    Every value under a SECRET_KEYS key however it is written (inline
    tables, dotted or quoted keys, multi-line strings), those secrets and
    ``known`` ones wherever else they appear, and URL passwords; a text that
    does not parse is masked line by line (see _masking).
    """
    return mask_document_text(text, TOML_TEXT, SECRET_KEYS, known)


def _returnable(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return value


def mask_config_value(value, key=None):
    """Plain config data made safe to return: secrets masked, datetimes as text."""
    if key is not None:
        return mask_value({key: value}, SECRET_KEYS, _returnable)[key]
    return mask_value(value, SECRET_KEYS, _returnable)


# ---------------------------------------------------------------- reading

def decode_config(raw):
    """Bytes of config.toml to text (TOML is UTF-8; a byte-order mark is kept)."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise TomlDocumentError('the file is not valid UTF-8 (byte %d): %s' % (exc.start, exc.reason))


def load_plain(text, what='the file'):
    """Parse with tomllib, the strict TOML 1.0 parser: the data, or an error with line and column."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlDocumentError('%s is not valid TOML: %s' % (what, exc))


def parse_config(text):
    """Parse ``text`` (already checked by load_plain) into a tomlkit document."""
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise TomlDocumentError('the file is valid TOML, but the installed tomlkit %s cannot parse it (%s); '
                                'a newer tomlkit may' % (getattr(tomlkit, '__version__', '?'), exc))


# ------------------------------------------------------------ the request

class RunnerEdit:
    """What the runner_config module was asked to do."""

    def __init__(self, global_settings=None, name=None, url=None, settings=None, environment=None, state='present'):
        self.global_settings = global_settings or {}
        self.name = name
        self.url = url
        self.settings = settings or {}
        self.environment = environment or {}
        self.state = state

    def check(self):
        """Raise TomlDocumentError naming the first unacceptable value."""
        if self.state not in ('present', 'absent'):
            raise TomlDocumentError('state must be present or absent, got %r' % (self.state,))
        if 'runners' in self.global_settings:
            raise TomlDocumentError('global must not contain "runners": select an entry with name and edit it with settings')
        if self.name is None and (self.settings or self.environment or self.url is not None or self.state == 'absent'):
            raise TomlDocumentError('name is required to select a [[runners]] entry (settings, environment, url or state=absent given)')
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise TomlDocumentError('name must be a non-empty string, got %r' % (self.name,))
        if 'name' in self.settings:
            raise TomlDocumentError('settings must not contain "name": the entry is selected by the name option')
        if self.url is not None and 'url' in self.settings and normal_url(self.settings['url']) != normal_url(self.url):
            raise TomlDocumentError('settings.url %r contradicts the url option %r' % (self.settings['url'], self.url))
        check_toml_value(self.global_settings, 'global')
        check_toml_value(self.settings, 'settings')
        for variable, value in self.environment.items():
            if not isinstance(variable, str) or not variable or _UNUSABLE_IN_VARIABLE_NAME.search(variable):
                raise TomlDocumentError('environment variable name %r is not usable: a name must be a non-empty string '
                                        'without "=", spaces, line breaks or other control characters' % (variable,))
            if isinstance(value, (Mapping, list)):
                raise TomlDocumentError('environment value of %s must be a string, got %r' % (variable, value))


def check_toml_value(value, path):
    """Raise TomlDocumentError if ``value`` cannot be written to TOML (None removes a key)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TomlDocumentError('%s: keys must be strings, got %r' % (path, key))
            if item is not None:
                check_toml_value(item, '%s.%s' % (path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if item is None:
                raise TomlDocumentError('%s[%d]: TOML arrays cannot hold null' % (path, index))
            check_toml_value(item, '%s[%d]' % (path, index))
    elif not isinstance(value, (str, bool, int, float, datetime.datetime, datetime.date, datetime.time)):
        raise TomlDocumentError('%s: %r (%s) is not a TOML value' % (path, value, type(value).__name__))


def environment_entry(variable, value):
    """The ``NAME=value`` string for one environment variable."""
    if isinstance(value, bool):
        value = 'true' if value else 'false'
    return '%s=%s' % (variable, value)


def normal_url(url):
    return url.rstrip('/') if isinstance(url, str) else url


def find_runner(entries, name, url=None):
    """Index of the ``[[runners]]`` entry with ``name`` (and ``url``), or None.

    ``url`` is compared ignoring a trailing slash. Several entries with the
    name and no url to choose between them is an error naming each URL (its
    password masked).
    """
    matches = [index for index, entry in enumerate(entries) if entry.get('name') == name]
    if url is not None:
        matches = [index for index in matches if normal_url(entries[index].get('url')) == normal_url(url)]
    if len(matches) > 1:
        urls = ', '.join(mask_url_userinfo(repr(entries[index].get('url'))) for index in matches)
        if url is None:
            raise TomlDocumentError('%d [[runners]] entries are named %r (urls: %s): set url to choose one' % (len(matches), name, urls))
        raise TomlDocumentError('%d [[runners]] entries are named %r with url %r: cannot choose one' % (len(matches), name, url))
    return matches[0] if matches else None


# ----------------------------------------------------- plain data (tomllib)

def _same_value(current, wanted):
    """Equality that tells 1, 1.0 and true apart (Python does not)."""
    if isinstance(wanted, Mapping):
        return (isinstance(current, Mapping) and set(current) == set(wanted)
                and all(_same_value(current[key], wanted[key]) for key in wanted))
    if isinstance(wanted, (list, tuple)):
        return (isinstance(current, (list, tuple)) and len(current) == len(wanted)
                and all(_same_value(c, w) for c, w in zip(current, wanted)))
    if type(current) is not type(wanted):
        return False
    if isinstance(wanted, float) and math.isnan(wanted):
        return math.isnan(current)
    return current == wanted


def same_data(left, right):
    """Type-strict, NaN-aware equality of plain TOML data."""
    return _same_value(left, right)


def merge_plain(table, settings):
    """Deep-merge ``settings`` into the dict ``table`` (in place); None removes."""
    for key, wanted in settings.items():
        if wanted is None:
            table.pop(key, None)
        elif isinstance(wanted, Mapping) and isinstance(table.get(key), dict):
            merge_plain(table[key], wanted)
        else:
            table[key] = _plain(wanted)
    return table


def environment_plan(entries, environment):
    """How to merge ``environment`` into the ``environment`` array ``entries``.

    Returns (indexes to delete, {index: new entry}, entries to append).
    Variables not named keep their place; a None value removes the variable;
    a variable set twice in the array keeps its first place and loses its
    later duplicates, so that exactly one value wins.
    """
    delete = set()
    replace = {}
    append = []
    for variable, value in environment.items():
        positions = [index for index, entry in enumerate(entries)
                     if isinstance(entry, str) and entry.split('=', 1)[0] == variable]
        if value is None:
            delete.update(positions)
            continue
        wanted = environment_entry(variable, value)
        if positions:
            if entries[positions[0]] != wanted:
                replace[positions[0]] = wanted
            delete.update(positions[1:])
        else:
            append.append(wanted)
    return delete, replace, append


def merge_environment_entries(entries, environment):
    """The merged ``environment`` list (see environment_plan)."""
    delete, replace, append = environment_plan(entries, environment)
    kept = [replace.get(index, entry) for index, entry in enumerate(entries) if index not in delete]
    return kept + append


def _new_runner_plain(edit):
    entry = {'name': edit.name}
    if edit.url is not None:
        entry['url'] = edit.url
    return entry


class EditStep:
    """What one edit did to the plain data, for apply_document to do the same to the tomlkit document.

    ``index``: the position of the selected entry in ``runners`` when the edit
    was applied (None: there was none); ``entry``: the entry after the edit
    (None when it was removed or never there); ``changed``: whether the entry
    differs from what it was before the edit.
    """

    def __init__(self, index=None, entry=None, changed=False):
        self.index = index
        self.entry = entry
        self.changed = changed


def _plain_runners(data):
    runners = data.get('runners', [])
    if not isinstance(runners, list) or not all(isinstance(entry, dict) for entry in runners):
        raise TomlDocumentError('"runners" in the file is not an array of tables')
    return runners


def _apply_plain_edit(data, edit, touched):
    merge_plain(data, edit.global_settings)
    if edit.name is None:
        return EditStep()
    runners = _plain_runners(data)
    index = find_runner(runners, edit.name, edit.url)
    if index is not None and id(runners[index]) in touched:
        raise TomlDocumentError('two edits select the same [[runners]] entry (name %r%s): give each entry once'
                                % (edit.name, '' if edit.url is None else ', url %r' % (edit.url,)))
    if edit.state == 'absent':
        if index is None:
            return EditStep()
        del runners[index]
        if not runners:
            del data['runners']
        return EditStep(index, None, True)
    if index is None:
        runner = _new_runner_plain(edit)
        runners.append(runner)
        data['runners'] = runners
        before = None
    else:
        runner = runners[index]
        before = _plain(runner)
    touched.add(id(runner))
    merge_plain(runner, edit.settings)
    if edit.environment:
        if not isinstance(runner.get('environment', []), list):
            raise TomlDocumentError('environment of runner %r is not an array' % (edit.name,))
        merged = merge_environment_entries(runner.get('environment', []), edit.environment)
        if merged:
            runner['environment'] = merged
        else:
            runner.pop('environment', None)
    return EditStep(index, runner, before is None or not same_data(before, runner))


def apply_plain(data, edits):
    """Apply ``edits`` (a list of RunnerEdit), in order, to a copy of plain config data.

    Returns (new data, one EditStep per edit). Two edits that select the same
    entry are an error: each runner is edited once.
    """
    data = _plain(data)
    touched = set()
    return data, [_apply_plain_edit(data, edit, touched) for edit in edits]


# ------------------------------------------------------ tomlkit document

def _raw_item(container, key):
    """The tomlkit item of ``key`` (tomlkit 0.11 tables have no item())."""
    body = container.value if isinstance(container, Table) else container
    try:
        return body.item(key)
    except (KeyError, AttributeError):
        return None


def _is_plain_key(item):
    return item is not None and not isinstance(item, (Table, AoT)) and getattr(item, 'trivia', None) is not None


def _indent_of_keys(container):
    """Indentation of the first plain key of a tomlkit table, or None."""
    for key in container:
        item = _raw_item(container, key)
        if _is_plain_key(item):
            return item.trivia.indent
    return None


def _indent_tree(item, level):
    """Indent a new table the way gitlab-runner writes config.toml.

    The header sits at ``level``, its keys and sub-table headers two spaces
    deeper, and so on down.
    """
    if isinstance(item, AoT):
        for table in item.body:
            _indent_tree(table, level)
        return
    if not item.is_super_table():
        item.trivia.indent = ' ' * level
        level += 2
    for key in item:
        child = _raw_item(item, key)
        if isinstance(child, (Table, AoT)):
            _indent_tree(child, level)
        elif _is_plain_key(child):
            child.trivia.indent = ' ' * level


def _set_key(container, key, value):
    """Set ``container[key]``; a new key is indented like the keys beside it."""
    indent = _indent_of_keys(container) if key not in container else None
    container[key] = value
    if indent:
        item = _raw_item(container, key)
        if isinstance(item, (Table, AoT)):
            _indent_tree(item, len(indent))
        elif _is_plain_key(item):
            item.trivia.indent = indent


def _is_table(item):
    return isinstance(item, Mapping)


def merge_document(container, settings):
    """Deep-merge ``settings`` into a tomlkit table; untouched items stay as they are."""
    for key, wanted in settings.items():
        if wanted is None:
            if key in container:
                del container[key]
            continue
        current = container.get(key)
        if isinstance(wanted, Mapping) and current is not None and _is_table(current):
            merge_document(current, wanted)
        elif current is None or not _same_value(_plain(_unwrap(current)), _plain(wanted)):
            _set_key(container, key, _plain(wanted))


def _unwrap(item):
    return item.unwrap() if hasattr(item, 'unwrap') else item


def _merge_environment_document(runner, environment):
    current = runner.get('environment')
    if current is not None and not isinstance(_unwrap(current), list):
        raise TomlDocumentError('environment of runner %r is not an array' % (runner.get('name'),))
    entries = list(_unwrap(current)) if current is not None else []
    delete, replace, append = environment_plan(entries, environment)
    if not (delete or replace or append):
        return
    if len(delete) == len(entries) and not append:
        del runner['environment']
        return
    if current is None:
        _set_key(runner, 'environment', append)
        return
    # Edit the array in place so that its layout and comments survive.
    for index, entry in replace.items():
        current[index] = entry
    for index in sorted(delete, reverse=True):
        del current[index]
    for entry in append:
        current.append(entry)


def _apply_document_edit(document, edit, step):
    merge_document(document, edit.global_settings)
    if edit.name is None or not step.changed:
        # merge_document would find every key as it is.
        return
    runners = document.get('runners')
    if edit.state == 'absent':
        if len(runners) == 1:
            del document['runners']
        else:
            del runners[step.index]
        return
    index = step.index
    if index is None:
        new_runner = tomlkit.table()
        # Like the entry before it, or, for the first one, like gitlab-runner writes it.
        indent = _indent_of_keys(runners[-1]) if runners else RUNNER_INDENT
        for key, value in _new_runner_plain(edit).items():
            new_runner[key] = value
            if indent:
                _raw_item(new_runner, key).trivia.indent = indent
        if runners is None:
            runners = tomlkit.aot()
            runners.append(new_runner)
            document['runners'] = runners
        else:
            runners.append(new_runner)
        index = len(runners) - 1
    runner = runners[index]
    merge_document(runner, edit.settings)
    if edit.environment:
        _merge_environment_document(runner, edit.environment)


def apply_document(document, edits, steps):
    """Apply ``edits`` to a tomlkit document in place, at the entries apply_plain's ``steps`` found."""
    for edit, step in zip(edits, steps):
        _apply_document_edit(document, edit, step)


# ---------------------------------------- editing only the selected entries

class _Layout:
    """config.toml cut at its table headers: the text before the first ``[[runners]]``
    header (``head``), one piece per entry (``entries``: its header, its
    sub-tables and what follows them up to the next entry's header), and the
    tables after the last entry that are not the runners' (``tail``).
    """

    def __init__(self, head, entries, tail):
        self.head = head
        self.entries = entries
        self.tail = tail

    def text(self, indexes):
        """The document with only the entries at ``indexes`` (ascending)."""
        return self.head + ''.join(self.entries[index] for index in indexes) + self.tail


_ENTRY_HEADER = '[[runners]]'


def _header_root(line, cache):
    """For a line that starts with "[" (after blanks): (first key of its table header, whether it opens a
    [[runners]] entry), or None when it is no header (a line of a multi-line array or string)."""
    found = cache.get(line)
    if found is None and line not in cache:
        try:
            parsed = tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            parsed = None
        if parsed is not None and len(parsed) == 1:
            root, value = next(iter(parsed.items()))
            found = (root, root == 'runners' and value == [{}])
        cache[line] = found
    return found


def _layout(text):
    """Cut ``text`` into a _Layout, or None when its layout is not head, entries, tail.

    A line that merely looks like a header (inside a multi-line string or
    array) can make the cut wrong; edit_entries_only checks the pieces'
    data against the whole file's before it uses them.
    """
    head = None
    entries = []
    tail_start = None
    start = 0
    offset = 0
    cache = {}
    # Lines end at LF only: TOML's line ends are LF and CRLF (str.splitlines
    # would also cut inside values, at U+2028 for one).
    for line in text.split('\n'):
        stripped = line.strip(' \t\r')
        if stripped.startswith('['):
            found = ('runners', True) if stripped == _ENTRY_HEADER else _header_root(stripped, cache)
            if found is not None:
                root, opens_entry = found
                if opens_entry:
                    if tail_start is not None:
                        return None     # runners after other tables: edit the whole document
                    if head is None:
                        head = text[:offset]
                    else:
                        entries.append(text[start:offset])
                    start = offset
                elif head is None:
                    if root == 'runners':
                        return None     # a runners sub-table before the first entry
                elif root != 'runners' and tail_start is None:
                    tail_start = offset
        offset += len(line) + 1
    if head is None:
        return None
    end = len(text) if tail_start is None else tail_start
    entries.append(text[start:end])
    return _Layout(head, entries, text[end:])


def _replay(indexes, edits, steps):
    """Walk ``edits`` over the entries at ``indexes`` (a document's, in order) as apply_plain did.

    ``steps`` come from apply_plain on that document: an edit's index is the
    entry's place after the removals before it. Returns the indexes the
    edits select (for a new entry: the one it goes after, and is indented
    like), the indexes still there afterwards, and how many entries they add.
    """
    touched = set()
    alive = list(indexes)
    added = 0
    for edit, step in zip(edits, steps):
        if edit.name is None:
            continue
        if step.index is None:
            if edit.state == 'present':
                added += 1
                if alive:
                    touched.add(alive[-1])
            continue
        touched.add(alive[step.index])
        if edit.state == 'absent':
            del alive[step.index]
    return touched, alive, added


def _selected_entries(count, edits, steps):
    """Indexes of the entries the piece given to tomlkit needs, ascending.

    Those the edits touch and, if any entry stays, one that does: tomlkit
    removes the array itself with its last entry, and the whole document
    keeps it.
    """
    touched, alive, dummy = _replay(range(count), edits, steps)
    if alive and touched.isdisjoint(alive):
        touched.add(alive[-1])
    return sorted(touched)


def edit_entries_only(text, before, edits, steps):
    """``text`` with ``edits`` applied, giving tomlkit only the entries they select; None when that cannot be done.

    tomlkit's parse is what an edit costs (docs/performance.md), and it
    grows with the file: on a file of a thousand runners, the edit of one
    needs the header and that one entry only. The piece of the file made of
    those (``before``: the whole file's data, ``steps``: what apply_plain
    found there) is checked to hold exactly their data, edited as the whole
    document would be, and put back in place of the pieces it came from;
    every other byte is the file's own. The caller checks the result's data
    as it checks a whole-document edit, and edits the whole document when
    this returns None or a result with other data.
    """
    runners = before.get('runners')
    if not isinstance(runners, list) or not runners:
        return None
    if any(key not in before for edit in edits for key in edit.global_settings):
        # tomlkit puts a new top-level key or table after the last item of
        # the document it edits: the piece's last entry is not the file's.
        return None
    layout = _layout(text)
    if layout is None or len(layout.entries) != len(runners):
        return None
    selected = _selected_entries(len(runners), edits, steps)
    part_text = layout.text(selected)
    part_before = _load_or_none(part_text)
    if part_before is None:
        return None
    wanted = dict(before, runners=[runners[index] for index in selected])
    if not same_data(part_before, wanted):
        return None
    try:
        dummy, part_steps = apply_plain(part_before, edits)
        edited = _edit_whole_document(part_text, edits, part_steps)
    except (TomlDocumentError, tomlkit.exceptions.TOMLKitError):
        # The whole document then gives the error, if there is one.
        return None
    dummy, kept, added = _replay(selected, edits, part_steps)
    if kept or added:
        edited_layout = _layout(edited)
    elif not layout.tail:
        # No entry left in the piece: all of it is the head.
        edited_layout = _Layout(edited, [], '')
    else:
        return None
    if edited_layout is None or len(edited_layout.entries) != len(kept) + added:
        return None
    pieces = [edited_layout.head]
    new_pieces = iter(edited_layout.entries)
    kept = set(kept)
    selected = set(selected)
    for index, piece in enumerate(layout.entries):
        if index not in selected:
            pieces.append(piece)
        elif index in kept:
            pieces.append(next(new_pieces))
    pieces.extend(new_pieces)
    pieces.append(edited_layout.tail)
    return ''.join(pieces)


# ------------------------------------------------------------ all together

class ConfigEditResult:
    """Outcome of edit_config_text: the new text and what the module returns.

    ``runners`` holds one entry per edit (masked; {} for an edit without a
    name or with state=absent) and ``runner`` the first of them, both made
    when first asked for; ``runner_changed`` tells, per edit, whether its
    entry changed.
    """

    def __init__(self, text, data, runner_indexes, runner_changed, unknown, messages):
        self.text = text
        self._data = data
        self._runner_indexes = runner_indexes
        self._runners = None
        self.runner_changed = runner_changed
        self.unknown_keys = unknown
        self.unknown_key_messages = messages

    @property
    def runners(self):
        if self._runners is None:
            self._runners = [mask_config_value(self._data['runners'][index]) if index is not None else {}
                             for index in self._runner_indexes]
        return self._runners

    @property
    def runner(self):
        return self.runners[0] if self._runner_indexes else {}


def _present(value):
    """``value`` without the keys set to None (removals)."""
    if isinstance(value, Mapping):
        return dict((key, _present(item)) for key, item in value.items() if item is not None)
    return value


def written_keys(edits, runner_indexes):
    """The part of the configuration the edits write, shaped like config.toml.

    ``runner_indexes`` gives, per edit, the index of its entry in the edited
    file (None: none). Removals (None) are left out: deleting a misspelt key
    is no typo.
    """
    written = {}
    runners = {}
    for edit, index in zip(edits, runner_indexes):
        merge_plain(written, _present(edit.global_settings))
        if edit.name is not None and edit.state == 'present' and index is not None:
            runner = _present(edit.settings)
            runner['name'] = edit.name
            if edit.environment:
                runner['environment'] = []
            runners[index] = runner
    if runners:
        written['runners'] = [runners.get(index, {}) for index in range(max(runners) + 1)]
    return written


def uses_crlf(text):
    """Whether every line break of ``text`` is CRLF (and there is one)."""
    return '\r\n' in text and not _LONE_LF.search(text)


def _edit_list(edit):
    edits = list(edit) if isinstance(edit, (list, tuple)) else [edit]
    if not edits:
        raise TomlDocumentError('no edit given')
    return edits


def _strip_bom(text):
    """(text without a UTF-8 BOM, whether it had one); None reads as an empty file."""
    if text is None:
        return '', False
    if text.startswith(UTF8_BOM):
        return text[len(UTF8_BOM):], True
    return text, False


def _edit_problems(expected, steps, edits):
    """The entries' final indexes, and the unknown keys, their messages and the type errors of what the edits write.

    The entries' final places are found by identity in the plain data the
    edits made (``expected``), which is what the file holds afterwards.
    """
    place = dict((id(entry), index) for index, entry in enumerate(expected.get('runners', [])))
    indexes = [place.get(id(step.entry)) if step.entry is not None else None for step in steps]
    written = written_keys(edits, indexes)
    names = dict((index, each.name) for each, index in zip(edits, indexes) if index is not None)
    return (indexes, unknown_keys(written), _naming_runners(unknown_key_messages(written), names),
            _naming_runners(type_error_messages(written, SECRET_KEYS), names))


def check_config_edit(text, edit, validate_keys='warn'):
    """Raise TomlDocumentError when ``edit`` applied to config.toml ``text`` would be refused, as config_transform does.

    A dry run on the file's data alone (tomllib): the values' types and,
    with ``validate_keys='error'``, keys the runner does not know. tomlkit,
    which the write needs to keep every other byte, is not used.
    """
    edits = _edit_list(edit)
    for each in edits:
        each.check()
    text, dummy = _strip_bom(text)
    expected, steps = apply_plain(load_plain(text), edits)
    dummy, unknown, unknown_messages, type_messages = _edit_problems(expected, steps, edits)
    _refuse(unknown, unknown_messages, type_messages, validate_keys)


def _load_or_none(text):
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _edit_whole_document(text, edits, steps):
    """The text of ``text`` with ``edits`` applied by tomlkit to the whole document."""
    document = parse_config(text)
    apply_document(document, edits, steps)
    new_text = tomlkit.dumps(document)
    # tomlkit ends the lines it adds with LF; keep a CRLF file CRLF.
    return _LONE_LF.sub('\r\n', new_text) if uses_crlf(text) else new_text


def edit_config_text(text, edit):
    """Apply ``edit`` - a RunnerEdit, or a list of them applied in order - to config.toml ``text`` (None: no file yet).

    One parse, one dump and one check however many edits there are. Returns
    a ConfigEditResult whose text equals ``text`` when nothing needs to
    change. Raises TomlDocumentError, with the parser's line and column for a
    broken file, before anything could be written.
    """
    edits = _edit_list(edit)
    for each in edits:
        each.check()
    text, had_bom = _strip_bom(text)
    before = load_plain(text)
    expected, steps = apply_plain(before, edits)
    if same_data(before, expected):
        # Nothing to change: the text stays exactly as it is, and tomlkit (the
        # slow part: docs/performance.md) is not needed at all.
        new_text, after = text, before
    else:
        if text and not text.endswith('\n'):
            # tomlkit would write a new entry's header on the last line.
            text += '\r\n' if uses_crlf(text) else '\n'
        new_text = edit_entries_only(text, before, edits, steps)
        after = None if new_text is None else _load_or_none(new_text)
        if after is None or not same_data(after, expected):
            new_text = _edit_whole_document(text, edits, steps)
            after = load_plain(new_text, what='the edited document')
        if not same_data(after, expected):
            raise TomlDocumentError(
                'the edited document would not hold the requested data (a tomlkit limitation with this file layout); '
                'the file was left untouched')
    indexes, unknown, unknown_messages, type_messages = _edit_problems(expected, steps, edits)
    if had_bom:
        new_text = UTF8_BOM + new_text
    result = ConfigEditResult(new_text, after, indexes, [step.changed for step in steps], unknown, unknown_messages)
    result.type_error_messages = type_messages
    return result


_RUNNER_PATH = re.compile(r'runners\[([0-9]+)\]')


def _naming_runners(messages, names):
    """Messages about ``runners[i]...`` paths, each starting with the name of runner i."""
    named = []
    for message in messages:
        found = _RUNNER_PATH.match(message)
        if found and int(found.group(1)) in names:
            message = 'runner %r: %s' % (names[int(found.group(1))], message)
        named.append(message)
    return named


def _refuse(unknown, unknown_messages, type_messages, validate_keys):
    """Raise TomlDocumentError for values of the wrong type (unless ignored) and, with 'error', unknown keys."""
    if validate_keys == 'ignore':
        return
    problems = []
    if type_messages:
        problems.append('the edit writes values of the wrong type, for which gitlab-runner would refuse the '
                        'whole file: %s' % '; '.join(type_messages))
    if validate_keys == 'error' and unknown:
        problems.append('the edit writes keys gitlab-runner does not know: %s' % '; '.join(unknown_messages))
    if problems:
        raise TomlDocumentError('. '.join(problems))


def config_transform(edit, validate_keys='warn'):
    """The transform for _safe_write.edit_file: config.toml bytes in, bytes out.

    ``edit`` is a RunnerEdit or a list of them (see edit_config_text). With
    ``validate_keys='error'`` an edit that writes keys the runner does not
    know is refused; with ``'ignore'`` they are not looked for. Values of the
    wrong type are refused with ``'warn'`` too: the runner would refuse the
    whole file. ``'ignore'`` does not look at types either.
    """
    def transform(content):
        text = None if content is None else decode_config(content)
        result = edit_config_text(text, edit)
        if validate_keys == 'ignore':
            result.unknown_keys = []
            result.unknown_key_messages = []
            result.type_error_messages = []
        _refuse(result.unknown_keys, result.unknown_key_messages, result.type_error_messages, validate_keys)
        if content is None and result.text == '':
            return None, result
        return result.text.encode('utf-8'), result
    return transform
