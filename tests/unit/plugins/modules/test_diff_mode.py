# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The file's text is returned, as a diff, only when Ansible asks for one (--diff).

These tests run each module's main() with Ansible's real exit_json, which
prints the whole result, and measure what it printed.
"""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import docker_json_config, runner_config

ENTRY = '''
[[runners]]
  name = "r{index:06d}"
  url = "https://gitlab.example.com/"
  token = "glrt-{index:020d}"
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
'''


def printed_result(main, args, capsys, diff):
    with patch_module_args(dict(args, _ansible_diff=diff)):
        with pytest.raises(SystemExit) as exited:
            main()
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    return printed, json.loads(printed)


@pytest.fixture(scope='module')
def big_config_text():
    """About 9.5 MB of config.toml."""
    entries = []
    size = 0
    while size < 9_500_000:
        entries.append(ENTRY.format(index=len(entries)))
        size += len(entries[-1])
    return 'concurrent = 1\n' + ''.join(entries)


def test_no_diff_without_diff_mode_even_for_a_big_file(tmp_path, capsys, big_config_text):
    path = tmp_path / 'config.toml'
    path.write_text(big_config_text)
    path.chmod(0o600)
    args = dict(path=str(path), name='r000001', settings={'executor': 'docker'})
    printed, result = printed_result(runner_config.main, args, capsys, diff=False)
    assert not result['changed'] and 'diff' not in result
    assert result['runner']['name'] == 'r000001'
    assert len(printed) < 10_000


@pytest.mark.parametrize('main, name, args, expected', [
    (runner_config.main, 'config.toml', {'global': {'concurrent': 2}}, 'concurrent = 2'),
    (docker_json_config.main, 'daemon.json', {'settings': {'debug': True}}, '"debug": true'),
], ids=['runner_config', 'docker_json_config'])
def test_diff_only_in_diff_mode(tmp_path, capsys, main, name, args, expected):
    path = tmp_path / name
    printed, result = printed_result(main, dict(args, path=str(path)), capsys, diff=False)
    assert result['changed'] and 'diff' not in result
    path.unlink()
    printed, result = printed_result(main, dict(args, path=str(path)), capsys, diff=True)
    assert result['changed'] and expected in result['diff']['after'] and result['diff']['before'] == ''
