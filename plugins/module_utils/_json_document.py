# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Edits of Docker's JSON files (daemon.json, a client's config.json), for docker_json_config."""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Mapping

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import (
    TextFormat,
    mask_document_text,
    mask_url_userinfo,
    mask_value,
)
# MASK is part of this module's interface.
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._plain_data import plain as _plain
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import MASK  # noqa: F401  # pylint: disable=unused-import
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values


# daemon.json keys that dockerd re-reads on SIGHUP (`systemctl reload docker`);
# a change to any other key, proxies included, needs a restart (dockerd's
# reload handler copies only these from the new file).
RELOADABLE_DAEMON_KEYS = frozenset((
    'registry-mirrors',
    'live-restore',
    'insecure-registries',
    'debug',
    'labels',
    'max-concurrent-downloads',
    'max-concurrent-uploads',
    'shutdown-timeout',
))

# Client config.json keys whose values are credentials (registry ``auths``
# entries), compared without regard to case; everything below such a key is
# masked, and so are URL passwords anywhere.
SECRET_KEYS = frozenset(('auth', 'password', 'identitytoken', 'registrytoken'))

# The string literals of valid JSON, for masking.
_JSON_LITERALS = re.compile(r'(?P<string>"[^"\\]*(?:\\[\s\S][^"\\]*)*")')


class JsonDocumentError(ValueError):
    """The document on disk or the requested edit is not acceptable.

    The message may quote the document or the module's arguments: the
    password of every URL in it is masked.
    """

    def __init__(self, message):
        super().__init__(mask_url_userinfo(message))


def default_kind(path):
    """``daemon`` for a file named daemon.json, ``client`` otherwise."""
    return 'daemon' if os.path.basename(path) == 'daemon.json' else 'client'


def default_mode(kind):
    """The mode of a new file: a client config.json holds registry credentials; daemon.json usually does not.

    A new file that holds a secret is created 0600 whatever its kind, and a
    file that holds one is never left readable by other users (see holds_secret).
    """
    return '0600' if kind == 'client' else '0644'


def holds_secret(content):
    """Whether JSON bytes hold a credential or a URL with a password, for _safe_write.edit_file.

    Content that does not parse is taken to hold one.
    """
    try:
        document = json.loads(content.decode('utf-8'))
    except ValueError:
        return True
    return bool(secret_values(document, SECRET_KEYS))


def _keep_duplicates(pairs):
    """A JSON object as a dict; a key given twice holds the list of its values (for masking them all)."""
    document = {}
    for key, value in pairs:
        document[key] = [document[key], value] if key in document else value
    return document


def _load_for_masking(text):
    return json.loads(text, object_pairs_hook=_keep_duplicates) if text.strip() else {}


def _decode_json_string(literal):
    return json.loads(literal) if '\\' in literal else literal[1:-1]


def _encode_json_string(value):
    return json.dumps(value, ensure_ascii=False)


JSON_TEXT = TextFormat(_load_for_masking, _JSON_LITERALS, _decode_json_string, _encode_json_string)


def mask_json_text(text, known=()):
    """JSON text with its secrets masked, for diffs.

    Every value under a SECRET_KEYS key, those secrets and ``known`` ones
    wherever else they appear, and URL passwords; a text that does not
    parse is masked line by line (see _masking).
    """
    return mask_document_text(text, JSON_TEXT, SECRET_KEYS, known)


def mask_json_value(value, key=None):
    """A copy of JSON data with credentials and URL passwords masked."""
    if key is not None:
        return mask_value({key: value}, SECRET_KEYS)[key]
    return mask_value(value, SECRET_KEYS)


def load_json(text):
    """The JSON object in ``text`` ({} for an empty file), or an error with line and column."""
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonDocumentError('the file is not valid JSON: %s at line %d, column %d' % (exc.msg, exc.lineno, exc.colno))
    if not isinstance(document, dict):
        raise JsonDocumentError('the file must hold a JSON object, found %s' % type(document).__name__)
    return document


def dump_json(document, indent=2):
    """JSON text with a final newline; non-ASCII kept as it is."""
    return json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False) + '\n'


def check_json_value(value, path):
    """Raise JsonDocumentError if ``value`` cannot be written as JSON."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise JsonDocumentError('%s: keys must be strings, got %r' % (path, key))
            check_json_value(item, '%s.%s' % (path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json_value(item, '%s[%d]' % (path, index))
    elif isinstance(value, float) and not math.isfinite(value):
        raise JsonDocumentError('%s: %r is not a JSON number' % (path, value))
    elif value is not None and not isinstance(value, (str, bool, int, float)):
        raise JsonDocumentError('%s: %r (%s) is not a JSON value' % (path, value, type(value).__name__))


def same_json(left, right):
    """Equality that tells 1, 1.0 and true apart (Python does not)."""
    if isinstance(right, Mapping):
        return (isinstance(left, Mapping) and set(left) == set(right)
                and all(same_json(left[key], right[key]) for key in right))
    if isinstance(right, (list, tuple)):
        return (isinstance(left, (list, tuple)) and len(left) == len(right)
                and all(same_json(a, b) for a, b in zip(left, right)))
    return type(left) is type(right) and left == right


def union(current, wanted):
    """``current`` followed by the items of ``wanted`` it does not hold yet."""
    result = list(current)
    for item in wanted:
        if not any(same_json(existing, item) for existing in result):
            result.append(_plain(item))
    return result


def merge_settings(document, settings, list_merge='replace'):
    """A copy of ``document`` with ``settings`` deep-merged into it.

    Objects merge recursively, a key set to None is removed, lists are
    replaced or (``list_merge='union'``) extended with their new items.
    """
    if list_merge not in ('replace', 'union'):
        raise JsonDocumentError('list_merge must be replace or union, got %r' % (list_merge,))
    result = copy.deepcopy(document)
    _merge_into(result, settings, list_merge)
    return result


def _merge_into(target, settings, list_merge):
    for key, wanted in settings.items():
        current = target.get(key)
        if wanted is None:
            target.pop(key, None)
        elif isinstance(wanted, Mapping) and isinstance(current, dict):
            _merge_into(current, wanted, list_merge)
        elif list_merge == 'union' and isinstance(wanted, (list, tuple)) and isinstance(current, list):
            target[key] = union(current, wanted)
        else:
            target[key] = _plain(wanted)


def key_path(path):
    """A ``remove`` entry as a list of keys: 'a.b' -> ['a', 'b']; a list is taken as it is."""
    if isinstance(path, str):
        keys = path.split('.')
    elif isinstance(path, (list, tuple)):
        keys = list(path)
    else:
        raise JsonDocumentError('remove entries must be dotted strings or lists of keys, got %r' % (path,))
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise JsonDocumentError('remove entry %r has an empty or non-string key' % (path,))
    return keys


def remove_paths(document, paths):
    """A copy of ``document`` without the keys at ``paths`` (missing ones are fine)."""
    result = copy.deepcopy(document)
    for path in paths:
        keys = key_path(path)
        parent = result
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(keys[-1], None)
    return result


def changed_top_level_keys(before, after):
    """Top-level keys added, removed or changed, sorted."""
    return sorted(key for key in set(before) | set(after)
                  if key not in before or key not in after or not same_json(before[key], after[key]))


def daemon_action(kind, before, after):
    """``none``, ``reload`` or ``restart``: what dockerd needs after the change."""
    changed = changed_top_level_keys(before, after)
    if kind != 'daemon' or not changed:
        return 'none'
    if all(key in RELOADABLE_DAEMON_KEYS for key in changed):
        return 'reload'
    return 'restart'


class JsonEdit:
    """What the docker_json_config module was asked to do."""

    def __init__(self, kind='daemon', settings=None, remove=None, list_merge='replace', indent=2):
        self.kind = kind
        self.settings = settings or {}
        self.remove = remove or []
        self.list_merge = list_merge
        self.indent = indent

    def check(self):
        """Raise JsonDocumentError naming the first unacceptable value."""
        if self.kind not in ('daemon', 'client'):
            raise JsonDocumentError('kind must be daemon or client, got %r' % (self.kind,))
        if isinstance(self.indent, bool) or not isinstance(self.indent, int) or not 0 <= self.indent <= 16:
            raise JsonDocumentError('indent must be a number of spaces from 0 to 16, got %r' % (self.indent,))
        check_json_value(self.settings, 'settings')
        for path in self.remove:
            key_path(path)


class JsonEditResult:
    """Outcome of edit_json_text."""

    def __init__(self, text, content, action, changed_keys):
        self.text = text
        self.content = content
        self.daemon_action = action
        self.changed_keys = changed_keys


def edit_json_text(text, edit):
    """Apply ``edit`` to JSON ``text`` (None: no file yet).

    The text is kept byte-for-byte when the data does not change; otherwise
    the whole document is written with ``edit.indent``.
    """
    edit.check()
    before = load_json(text or '')
    after = remove_paths(merge_settings(before, edit.settings, edit.list_merge), edit.remove)
    if same_json(before, after):
        new_text = text
    else:
        new_text = dump_json(after, edit.indent)
    return JsonEditResult(new_text, mask_json_value(after), daemon_action(edit.kind, before, after),
                          changed_top_level_keys(before, after))


def json_transform(edit):
    """The transform for _safe_write.edit_file: JSON bytes in, bytes out."""
    def transform(content):
        if content is None:
            text = None
        else:
            try:
                text = content.decode('utf-8')
            except UnicodeDecodeError as exc:
                raise JsonDocumentError('the file is not valid UTF-8 (byte %d): %s' % (exc.start, exc.reason))
        result = edit_json_text(text, edit)
        if result.text is None:
            return None, result
        return result.text.encode('utf-8'), result
    return transform
