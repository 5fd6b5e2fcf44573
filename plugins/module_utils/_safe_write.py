# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The file-writing discipline shared by the collection's file-editing modules.

Read the bytes, transform them, compare, and only when they differ:

- the collection's own writers take turns, so that none loses another's
  edit: out of check mode, a run holds a lock beside the file
  (``.<name>.lock``, an ``fcntl.flock`` lock, removed by its holder) from its
  first read to the rename;
- read the file again and apply the edit again if it changed meanwhile (a
  writer that takes no lock);
- write a temporary file in the file's own directory and give it the file's
  final owner, group and mode (and SELinux context) before it is in place;
- back up, check right before the rename that the file is still the one that
  was read (same content, same inode, size, mtime and ctime), and move the
  temporary file into place atomically (a new file with a hard link, which
  fails if someone created the file meanwhile);
- read the file after the rename: only an edit that is in the file counts as
  made; if a writer that takes no lock replaced it meanwhile, the edit is
  applied again to what that writer left;
- a run that dies between writing its temporary file and the rename (killed,
  out of memory, the host going down) leaves the file as it was, and its lock
  goes with it (the kernel lets go of a dead process's flock); the next run
  that holds the lock removes the temporary files such a run left, each a
  copy of the file and its secrets.

What remains: a writer that takes no lock (the runner rewriting config.toml
when it rotates its token) and writes in the instant between the last check
and the rename loses its own change, as it would against any other writer;
one that replaces the file after the rename with content it read before it
is caught only if it does so before the module's read-back.

Modes: an existing file keeps its mode unless the task asks for one (the
common ``mode`` argument); a new file gets the module's default mode, without
any permission for group and others when it holds a secret. A file that
holds a secret is never left with any permission for other users, nor
writable by its group (anyone who may write config.toml can point a runner
at another URL and collect its token): a ``mode`` that would allow it is
refused (FileModeError), and an existing file that allows it is tightened to
its owner's permissions alone (0644 and 0662 become 0600, the mode the
runner gives config.toml and the Docker CLI config.json), with a warning. A
backup is never looser than the file it was made from is left.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import tempfile
import time

# How often the edit is applied again when the file keeps changing on disk
# between our read and our write.
MAX_ATTEMPTS = 5

# How long a run waits for the lock another run holds, in seconds, and how
# often it looks.
LOCK_TIMEOUT = 600
LOCK_POLL = 0.05

# Errors of a rename that Ansible's atomic_move works around (a file
# bind-mounted into a container, some network and synced file systems).
_RENAME_WORKAROUND_ERRORS = (errno.EPERM, errno.EXDEV, errno.EACCES, errno.ETXTBSY, errno.EBUSY)


class FileChangedError(RuntimeError):
    """The file changed on disk on every attempt to write it."""


class FileLockError(OSError):
    """The lock beside the file could not be taken."""


class FileModeError(ValueError):
    """The mode asked for would let other users read or change a file that holds a secret."""


# What a file that holds a secret may not allow: anything to other users, writing to its group.
UNSAFE_FOR_SECRETS = stat.S_IRWXO | stat.S_IWGRP
# What such a file keeps when it is tightened: its owner's permissions (and the special bits).
OWNER_ONLY = stat.S_IRWXU | 0o7000


class EditResult:
    """What edit_file did, ready for exit_json (``diff`` is None out of diff mode)."""

    def __init__(self, changed, diff, payload, backup_file=None):
        self.changed = changed
        self.diff = diff
        self.payload = payload
        self.backup_file = backup_file

    def file_returns(self):
        """``diff`` (in diff mode) and ``backup_file`` (when one was made), for a module's result."""
        returns = {}
        if self.diff is not None:
            returns['diff'] = self.diff
        if self.backup_file:
            returns['backup_file'] = self.backup_file
        return returns


def read_bytes(path):
    """The file's bytes, or None when it does not exist."""
    return _read(path)[0]


def _read(path):
    """The file's bytes and the stat of what was read, or (None, None) when it does not exist."""
    try:
        with open(path, 'rb') as handle:
            file_stat = os.fstat(handle.fileno())
            return handle.read(), file_stat
    except FileNotFoundError:
        return None, None


def _identity(file_stat):
    """What tells a file's versions apart: inode, size, modification and change times."""
    if file_stat is None:
        return None
    return (file_stat.st_dev, file_stat.st_ino, file_stat.st_size, file_stat.st_mtime_ns, file_stat.st_ctime_ns)


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


def lock_path(target):
    """The lock file of ``target``: ``.<name>.lock`` in the same directory."""
    return os.path.join(os.path.dirname(target), '.%s.lock' % os.path.basename(target))


def _open_lock(path, mode):
    """A descriptor of the lock file, created if needed; None when the directory does not allow it."""
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileLockError('the lock file %s is a symbolic link; remove it' % path)
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    # A lock file this user may not write (another user's, in a directory both
    # may write) is locked through a read-only descriptor; with no lock file
    # and no right to create one, this user cannot write the file's directory
    # either, and the write fails by itself (or is an unsafe write).
    try:
        return os.open(path, os.O_RDONLY | flags)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.EACCES, errno.EPERM):
            return None
        raise


class FileLock:
    """The advisory lock of one file, held by the collection's writers from their read to their rename.

    The lock file is removed by its holder before it lets go; a run that
    waited on a lock file that is gone by then takes the lock again on the
    file now at the path.
    """

    def __init__(self, target, mode=0o600, timeout=None):
        self.path = lock_path(target)
        # Never anything for other users, whatever the target's mode.
        self.mode = mode & 0o660 | 0o600
        self.timeout = LOCK_TIMEOUT if timeout is None else timeout
        self.descriptor = None

    def __enter__(self):
        deadline = time.monotonic() + self.timeout
        while True:
            descriptor = _open_lock(self.path, self.mode)
            if descriptor is None:
                return self
            try:
                locked = os.fstat(descriptor)
                if not stat.S_ISREG(locked.st_mode):
                    raise FileLockError('the lock file %s is not a regular file; remove it' % self.path)
                self._wait(descriptor, deadline)
                try:
                    now = os.stat(self.path, follow_symlinks=False)
                except FileNotFoundError:
                    now = None
            except BaseException:
                os.close(descriptor)
                raise
            if now is not None and (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                self.descriptor = descriptor
                return self
            os.close(descriptor)

    def _wait(self, descriptor, deadline):
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise FileLockError('another process has held the lock %s for more than %d seconds'
                                        % (self.path, self.timeout))
                time.sleep(LOCK_POLL)

    def __exit__(self, *exc_info):
        if self.descriptor is None:
            return
        try:
            locked = os.fstat(self.descriptor)
            now = os.stat(self.path, follow_symlinks=False)
            if (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino):
                os.unlink(self.path)
        except OSError:
            pass
        finally:
            os.close(self.descriptor)
            self.descriptor = None


# A temporary file of ``name`` is named '.<name>.', eight characters of mkstemp's and '.tmp'.
_TEMP_SUFFIX = '.tmp'


def _temp_prefix(name):
    return '.%s.' % name


def _write_temp(directory, name, content):
    handle, temp_path = tempfile.mkstemp(dir=directory, prefix=_temp_prefix(name), suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(handle, 'wb') as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
    except BaseException:
        os.unlink(temp_path)
        raise
    return temp_path


def _remove_stale_temporaries(target):
    """Remove the temporary files of ``target`` that runs left when they died before their rename.

    Only for a caller that holds the lock: no living run of the collection's
    modules has a temporary file of ``target`` then.
    """
    directory, name = os.path.split(target)
    temporary = re.compile(re.escape(_temp_prefix(name)) + '[a-z0-9_]{8}' + re.escape(_TEMP_SUFFIX) + r'\Z')
    for entry in os.listdir(directory):
        if temporary.match(entry):
            _remove(os.path.join(directory, entry))


def _mode_number(value):
    """A mode given as a number or as octal text, or None for another (symbolic) form."""
    if isinstance(value, int):
        return stat.S_IMODE(value)
    try:
        return int(value, 8)
    except (TypeError, ValueError):
        return None


def _new_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class _StatLike:
    def __init__(self, mode):
        self.st_mode = stat.S_IFREG | mode


def _requested_mode(module, current_stat, base_mode):
    """The mode the task's ``mode`` argument gives the file, or None when it asks for none."""
    requested = module.params.get('mode')
    if requested is None:
        return None
    number = _mode_number(requested)
    if number is not None:
        return number
    return module._symbolic_mode_to_octal(current_stat or _StatLike(base_mode), requested)


def _what_others_may(mode):
    """Who may do what to a file of ``mode`` that only its owner should: 'every user read and change it'."""
    what = []
    if mode & stat.S_IROTH:
        what.append('every user read it')
    if mode & stat.S_IWOTH:
        what.append('every user change it')
    if mode & stat.S_IWGRP and not mode & stat.S_IWOTH:
        what.append('its group change it')
    if not what:
        what.append('every user execute it')
    return ' and '.join(what)


def _file_attributes(module, path, current_stat, content, default_mode, holds_secret):
    """The common file arguments with the file's final mode, and the warning that goes with it.

    ``current_stat``: the file's stat (None: a new file); ``content``: what it
    will hold. Raises FileModeError rather than let other users read or
    change a file that holds a secret.
    """
    file_args = module.load_file_common_arguments(module.params, path=path)
    if current_stat is None:
        base_mode = _mode_number(default_mode) if default_mode is not None else _new_file_mode()
    else:
        base_mode = stat.S_IMODE(current_stat.st_mode)
    mode = _requested_mode(module, current_stat, base_mode)
    warning = None
    if mode is not None:
        if mode & UNSAFE_FOR_SECRETS and holds_secret(content):
            raise FileModeError(
                'refusing mode %04o: the file holds a secret (a credential or a URL with a password), and this mode '
                'would let %s; use a mode without any permission for others and without write permission for the '
                'group, such as 0600 or 0640' % (mode, _what_others_may(mode)))
    elif current_stat is None:
        mode = base_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO) and holds_secret(content):
            mode &= OWNER_ONLY
    else:
        mode = base_mode
        if mode & UNSAFE_FOR_SECRETS and holds_secret(content):
            mode &= OWNER_ONLY
            warning = ('%s holds a secret (a credential or a URL with a password) and mode %04o lets %s: %s mode '
                       '%04o; set mode (without any permission for others and without write permission for the '
                       'group, such as 0640) to choose another'
                       % (path, base_mode, _what_others_may(base_mode),
                          'it would get' if module.check_mode else 'it now has', mode))
    file_args['mode'] = mode
    return file_args, warning


def _prepare_temp(module, temp_path, target, current_stat, file_args):
    """Give the temporary file the owner, group, mode and context the file will have."""
    if current_stat is not None:
        try:
            os.chown(temp_path, current_stat.st_uid, current_stat.st_gid)
        except PermissionError:
            pass
    if module.selinux_enabled():
        context = module.selinux_context(target) if current_stat is not None else module.selinux_default_context(target)
        module.set_context_if_different(temp_path, context, False)
    module.set_fs_attributes_if_different(dict(file_args, path=temp_path), False)


def _unchanged_since_read(target, original, read_stat):
    """Whether ``target`` is still what was read: same content, and (last, right before the rename) same inode and times."""
    current, current_stat = _read(target)
    if current != original:
        return False
    if original is None:
        return True
    try:
        now = os.stat(target)
    except FileNotFoundError:
        return False
    return _identity(now) == _identity(current_stat) == _identity(read_stat)


def _install(module, temp_path, target, new):
    """Put ``temp_path`` in place of ``target``; False when a new file was created by someone else meanwhile."""
    if new:
        try:
            os.link(temp_path, target)
        except FileExistsError:
            return False
        except OSError:
            # No hard links on this file system.
            if os.path.lexists(target):
                return False
            os.rename(temp_path, target)
        else:
            os.unlink(temp_path)
        return True
    try:
        os.rename(temp_path, target)
    except OSError as exc:
        if exc.errno not in _RENAME_WORKAROUND_ERRORS:
            raise
        module.atomic_move(temp_path, target, unsafe_writes=module.params.get('unsafe_writes', False))
    return True


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _restrict(path, mode):
    """Take from ``path`` every permission ``mode`` does not give."""
    current = stat.S_IMODE(os.stat(path).st_mode)
    if current & ~mode:
        os.chmod(path, current & mode)


class _Edit:
    """The state of one edit_file call: what was read, what it becomes, what was done."""

    def __init__(self, module, path, target, transform, original, read_stat):
        self.module = module
        self.path = path
        self.target = target
        self.transform = transform
        self.original = original
        self.read_stat = read_stat
        new, self.payload = transform(original)
        self.wanted = original if new is None else new
        self.written = False
        self.changed = False
        # What the edit that was written was applied to, for the diff.
        self.before = None
        self.backup_file = None
        self.file_args = None
        self.warning = None

    def reapply(self, current, current_stat):
        """Apply the edit again to what is on disk now."""
        self.original, self.read_stat = current, current_stat
        new, self.payload = self.transform(current)
        self.wanted = current if new is None else new

    def write(self, default_mode, holds_secret, backup):
        """Write the edit (the caller holds the lock, if it could be taken)."""
        directory = os.path.dirname(self.target)
        name = os.path.basename(self.target)
        for dummy_attempt in range(MAX_ATTEMPTS):
            current, current_stat = _read(self.target)
            if current != self.original or _identity(current_stat) != _identity(self.read_stat):
                # Someone else wrote the file after we read it (or after our
                # last rename): apply the edit to what is there now instead
                # of overwriting their change.
                self.reapply(current, current_stat)
            if self.wanted == self.original:
                return
            if self._attempt(directory, name, default_mode, holds_secret, backup):
                return
        raise FileChangedError('%s changed on disk during each of %d attempts to edit it' % (self.path, MAX_ATTEMPTS))

    def _attempt(self, directory, name, default_mode, holds_secret, backup):
        self.file_args, self.warning = _file_attributes(
            self.module, self.target, self.read_stat, self.wanted, default_mode, holds_secret)
        temp_path = _write_temp(directory, name, self.wanted)
        try:
            _prepare_temp(self.module, temp_path, self.target, self.read_stat, self.file_args)
            if backup and self.original is not None and self.backup_file is None:
                self.backup_file = self.module.backup_local(self.target)
                _restrict(self.backup_file, self.file_args['mode'])
            if not (_unchanged_since_read(self.target, self.original, self.read_stat)
                    and _install(self.module, temp_path, self.target, self.original is None)):
                # The next attempt backs up what it replaces.
                if self.backup_file:
                    _remove(self.backup_file)
                    self.backup_file = None
                return False
        finally:
            _remove(temp_path)
        self.written = True
        self.before = self.original
        # Only an edit that is in the file counts as made: read it back.
        after, after_stat = _read(self.target)
        if after == self.wanted:
            self.original, self.read_stat = after, after_stat
            return True
        return False


def edit_file(module, path, transform, create=True, default_mode=None, mask=None, backup=False, holds_secret=None):
    """Edit ``path`` with ``transform``.

    ``transform(content)`` gets the current bytes (None: no file) and returns
    ``(new_bytes, payload)``; new_bytes None means "no file is needed" (for
    example removing something from a file that does not exist). It raises
    to refuse; nothing has been written then. It may be called again with
    newer content when the file changes on disk meanwhile.

    ``default_mode`` is the mode of a new file; ``holds_secret(content)``
    tells whether content holds a secret (see the module docstring for what
    that changes). ``mask(text)`` masks the text of the diff, which is made
    only in diff mode. Returns an EditResult.
    """
    holds_secret = holds_secret or (lambda content: False)
    mask = mask or (lambda text: text)
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise ValueError('%s is a directory, expected a file' % path)
    directory = os.path.dirname(target)
    if module.check_mode or not os.path.isdir(directory):
        # Nothing is written in check mode; a file in a directory that does
        # not exist yet is locked once the directory is made.
        edit = _edit(module, path, target, transform, create, default_mode, holds_secret, backup)
    else:
        with FileLock(target, _lock_mode(target)) as lock:
            if lock.descriptor is not None:
                _remove_stale_temporaries(target)
            edit = _edit(module, path, target, transform, create, default_mode, holds_secret, backup)
    diff = None
    if module._diff:
        # Only now, and only in diff mode: the text of a big file is not
        # copied, masked and returned for nothing.
        diff = build_diff(path, edit.before if edit.written else edit.original, edit.wanted, mask)
    return EditResult(edit.changed, diff, edit.payload, edit.backup_file)


def _lock_mode(target):
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return 0o600


def _edit(module, path, target, transform, create, default_mode, holds_secret, backup):
    original, read_stat = _read(target)
    if original is None and not create:
        raise ValueError('%s does not exist and create is false' % path)
    edit = _Edit(module, path, target, transform, original, read_stat)
    if edit.wanted != edit.original and not module.check_mode:
        directory = os.path.dirname(target)
        try:
            if os.path.isdir(directory):
                edit.write(default_mode, holds_secret, backup)
            else:
                os.makedirs(directory, 0o755)
                with FileLock(target):
                    edit.write(default_mode, holds_secret, backup)
        except BaseException:
            if edit.backup_file and not edit.written:
                _remove(edit.backup_file)
            raise
    changed = edit.written or edit.wanted != edit.original
    current_stat = edit.read_stat
    if not edit.written:
        edit.file_args, edit.warning = _file_attributes(
            module, target, current_stat, edit.wanted, default_mode, holds_secret)
    if edit.warning:
        module.warn(edit.warning)
    if current_stat is not None or edit.written:
        changed = module.set_fs_attributes_if_different(dict(edit.file_args, path=target), changed)
    edit.changed = changed
    return edit
