# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The file-writing discipline shared by the collection's file-editing modules.

Read the bytes, transform them, compare, and only when they differ: back up,
write a temporary file in the file's own directory, re-read the file to catch
a writer that came in between (the runner rotating its token), and move the
temporary file into place atomically. Owner, group and mode are kept or set
from the common file arguments, with a module-specific default mode.
"""

from __future__ import annotations

import os
import tempfile

# How often the edit is applied again when the file keeps changing on disk
# between our read and our write.
MAX_ATTEMPTS = 5


class FileChangedError(RuntimeError):
    """The file changed on disk on every attempt to write it."""


class EditResult:
    """What edit_file did, ready for exit_json."""

    def __init__(self, changed, diff, payload, backup_file=None):
        self.changed = changed
        self.diff = diff
        self.payload = payload
        self.backup_file = backup_file


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def diff_text(content, mask):
    """Text for one side of the diff ('' for a missing file), passed through ``mask``."""
    if content is None:
        return ''
    return mask(content.decode('utf-8', errors='replace'))


def build_diff(path, before, after, mask):
    """The before/after diff dict Ansible's --diff shows."""
    return {
        'before_header': '%s (content)' % path,
        'after_header': '%s (content)' % path,
        'before': diff_text(before, mask),
        'after': diff_text(after, mask),
    }


def _write_temp(directory, name, content):
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix='.%s.' % name, suffix='.tmp')
    try:
        with os.fdopen(handle, 'wb') as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
    except BaseException:
        os.unlink(temp_path)
        raise
    return temp_path


def _file_args(module, path, default_mode):
    file_args = module.load_file_common_arguments(module.params, path=path)
    if file_args.get('mode') is None:
        file_args['mode'] = default_mode
    return file_args


def _new_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _install(module, temp_path, target, exists, file_args):
    """Move ``temp_path`` over ``target``, atomically, with the right attributes.

    A new file gets its owner, group and mode while it is still the private
    temporary file, so that it never exists at ``target`` with looser ones.
    """
    if exists:
        module.atomic_move(temp_path, target, unsafe_writes=module.params.get('unsafe_writes', False))
        return
    temp_args = dict(file_args, path=temp_path)
    if temp_args.get('mode') is None:
        temp_args['mode'] = _new_file_mode()
    module.set_fs_attributes_if_different(temp_args, False)
    os.replace(temp_path, target)


def edit_file(module, path, transform, create=True, default_mode=None, mask=None, backup=False):
    """Edit ``path`` with ``transform``.

    ``transform(content)`` gets the current bytes (None: no file) and returns
    ``(new_bytes, payload)``; new_bytes None means "no file is needed" (for
    example removing something from a file that does not exist). It raises
    to refuse; nothing has been written then. Returns an EditResult.
    """
    mask = mask or (lambda text: text)
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise ValueError('%s is a directory, expected a file' % path)
    original = read_bytes(target)
    if original is None and not create:
        raise ValueError('%s does not exist and create is false' % path)
    new, payload = transform(original)
    wanted = original if new is None else new
    diff = build_diff(path, original, wanted, mask)
    content_changed = wanted != original
    backup_file = None
    if content_changed and not module.check_mode:
        directory = os.path.dirname(target)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        file_args = _file_args(module, target, default_mode)
        for dummy_attempt in range(MAX_ATTEMPTS):
            temp_path = _write_temp(directory, os.path.basename(target), wanted)
            current = read_bytes(target)
            if current == original:
                break
            # Someone else wrote the file after we read it: apply the edit
            # to what is there now instead of overwriting their change.
            os.unlink(temp_path)
            original = current
            new, payload = transform(original)
            wanted = original if new is None else new
            diff = build_diff(path, original, wanted, mask)
            if wanted == original:
                content_changed = False
                break
        else:
            raise FileChangedError('%s changed on disk during each of %d attempts to edit it' % (path, MAX_ATTEMPTS))
        if content_changed:
            if backup and original is not None:
                backup_file = module.backup_local(target)
            _install(module, temp_path, target, original is not None, file_args)
    changed = content_changed
    if os.path.exists(target):
        changed = module.set_fs_attributes_if_different(_file_args(module, target, default_mode), changed)
    return EditResult(changed, diff, payload, backup_file)
