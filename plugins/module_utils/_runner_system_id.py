# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runner's system id: ``.runner_system_id`` beside config.toml, read and made as the runner does.

GitLab tells the machines that share one runner authentication token apart
by this id (each is a "runner manager"). GitLab Runner
(commands/internal/configfile/system_id_state.go) reads the file, trims
white space and accepts only ``^[sr]_[0-9a-zA-Z]{12}$``; anything else counts
as missing. A missing id is made from the machine id
(``/var/lib/dbus/machine-id``, else ``/etc/machine-id``): ``s_`` and the first
12 hex digits of HMAC-SHA256 keyed with the machine id over "gitlab-runner".
Only when no machine id can be read is it ``r_`` and 12 random letters and
digits. The runner writes it without a newline, mode 0600, creating the
directory with mode 0700. Made the same way here, it is the id the runner
would make itself on this machine, and the one it reads later.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import string

SYSTEM_ID_FILE = '.runner_system_id'
SYSTEM_ID_PATTERN = re.compile(r'^[sr]_[0-9a-zA-Z]{12}$')
MACHINE_ID_FILES = ('/var/lib/dbus/machine-id', '/etc/machine-id')
SYSTEM_ID_LENGTH = 12
RANDOM_ID_CHARACTERS = string.ascii_lowercase + string.ascii_uppercase + string.digits


def system_id_path(config_path):
    """Where the runner keeps the system id for ``config_path`` (the path as given, links not followed)."""
    return os.path.join(os.path.dirname(config_path), SYSTEM_ID_FILE)


def read_system_id(path):
    """The valid system id in ``path``, or None when the file is missing or holds something else."""
    try:
        with open(path, 'r', encoding='utf-8', errors='replace') as handle:
            value = handle.read().strip()
    except FileNotFoundError:
        return None
    return value if SYSTEM_ID_PATTERN.match(value) else None


def read_machine_id(paths=MACHINE_ID_FILES):
    """The machine id, as the runner's machineid package reads it, or None."""
    for path in paths:
        try:
            with open(path, 'r', encoding='utf-8', errors='replace') as handle:
                return handle.read().strip('\n').strip() or None
        except OSError:
            continue
    return None


def system_id_from_machine_id(machine_id):
    """``s_`` and 12 hex digits of HMAC-SHA256(key=machine id, message="gitlab-runner")."""
    digest = hmac.new(machine_id.encode('utf-8'), b'gitlab-runner', hashlib.sha256).hexdigest()
    return 's_' + digest[:SYSTEM_ID_LENGTH]


def random_system_id():
    """``r_`` and 12 random letters and digits, the runner's id when there is no machine id."""
    return 'r_' + ''.join(secrets.choice(RANDOM_ID_CHARACTERS) for dummy in range(SYSTEM_ID_LENGTH))


def new_system_id(machine_id_files=MACHINE_ID_FILES):
    machine_id = read_machine_id(machine_id_files)
    return system_id_from_machine_id(machine_id) if machine_id else random_system_id()


def write_system_id(path, system_id):
    """Write ``system_id`` as the runner does: no newline, mode 0600, directory made 0700."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
        handle.write(system_id)
    os.chmod(path, 0o600)


class SystemId:
    """This host's system id and whether the file still has to be written."""

    def __init__(self, path, value, saved):
        self.path = path
        self.value = value
        self.saved = saved


def load_system_id(config_path, machine_id_files=MACHINE_ID_FILES):
    """The system id for ``config_path``: the saved one, or a new one not yet written (saved False)."""
    path = system_id_path(config_path)
    value = read_system_id(path)
    if value is not None:
        return SystemId(path, value, True)
    return SystemId(path, new_system_id(machine_id_files), False)


def ensure_system_id(system_id):
    """Write a new system id to its file; True when it was written."""
    if system_id.saved:
        return False
    write_system_id(system_id.path, system_id.value)
    system_id.saved = True
    return True
