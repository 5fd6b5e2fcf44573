# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runner's system id, read and made as gitlab-runner does."""

from __future__ import annotations

import hashlib
import hmac
import stat

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_system_id import (
    SYSTEM_ID_PATTERN,
    ensure_system_id,
    load_system_id,
    read_system_id,
    system_id_from_machine_id,
    system_id_path,
)

MACHINE_ID = '0123456789abcdef0123456789abcdef'


def test_derived_from_the_machine_id_like_the_runner():
    expected = 's_' + hmac.new(MACHINE_ID.encode(), b'gitlab-runner', hashlib.sha256).hexdigest()[:12]
    assert system_id_from_machine_id(MACHINE_ID) == expected
    assert SYSTEM_ID_PATTERN.match(expected)


def test_a_new_id_is_written_beside_config_toml_without_newline_mode_0600(tmp_path):
    machine_id = tmp_path / 'machine-id'
    machine_id.write_text(MACHINE_ID + '\n')
    config = tmp_path / 'etc' / 'gitlab-runner' / 'config.toml'
    system_id = load_system_id(str(config), machine_id_files=(str(tmp_path / 'missing'), str(machine_id)))
    assert not system_id.saved
    assert system_id.value == system_id_from_machine_id(MACHINE_ID)
    assert not (config.parent / '.runner_system_id').exists()
    assert ensure_system_id(system_id) is True
    written = config.parent / '.runner_system_id'
    assert written.read_bytes() == system_id.value.encode()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert ensure_system_id(system_id) is False
    again = load_system_id(str(config))
    assert (again.saved, again.value) == (True, system_id.value)


def test_without_a_machine_id_a_random_r_id(tmp_path):
    system_id = load_system_id(str(tmp_path / 'config.toml'), machine_id_files=(str(tmp_path / 'none'),))
    assert system_id.value.startswith('r_') and SYSTEM_ID_PATTERN.match(system_id.value)


def test_an_empty_first_machine_id_file_means_random_like_the_runner(tmp_path):
    empty = tmp_path / 'dbus-machine-id'
    empty.write_text('\n')
    other = tmp_path / 'etc-machine-id'
    other.write_text(MACHINE_ID)
    system_id = load_system_id(str(tmp_path / 'config.toml'), machine_id_files=(str(empty), str(other)))
    assert system_id.value.startswith('r_')


def test_only_valid_ids_are_read_white_space_trimmed(tmp_path):
    path = tmp_path / '.runner_system_id'
    for content, expected in (('s_0123456789ab\n', 's_0123456789ab'), ('  r_ABCdef012345 ', 'r_ABCdef012345'),
                              ('s_0123', None), ('x_0123456789ab', None), ('s_0123456789ab0', None), ('', None)):
        path.write_text(content)
        assert read_system_id(str(path)) == expected, content
    assert read_system_id(str(tmp_path / 'missing')) is None


def test_an_invalid_file_is_replaced(tmp_path):
    config = tmp_path / 'config.toml'
    (tmp_path / '.runner_system_id').write_text('garbage')
    system_id = load_system_id(str(config), machine_id_files=())
    assert not system_id.saved
    ensure_system_id(system_id)
    assert read_system_id(str(tmp_path / '.runner_system_id')) == system_id.value


def test_the_path_is_beside_the_config_as_given(tmp_path):
    assert system_id_path('/etc/gitlab-runner/config.toml') == '/etc/gitlab-runner/.runner_system_id'
