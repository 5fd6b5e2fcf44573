# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Many runs of runner_config at once on one config.toml, each a real process run as Ansible runs a module.

Every run that says changed must leave its edit in the file, and no run may
lose another's: the runs of the collection's modules take turns (a lock
beside the file), and a writer that does not take it (the runner rotating
its token) is caught by the check right before the rename.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules import runner_config

RUNS = 20
MODULE = runner_config.__name__
# The folder holding ansible_collections/, for the module's own Python.
COLLECTIONS = os.path.abspath(runner_config.__file__).rsplit(os.sep + 'ansible_collections' + os.sep, 1)[0]

ENTRY = '''
[[runners]]
  # runner {index}: {padding}
  name = "r{index:05d}"
  url = "https://gitlab.example.com/"
  id = {index}
  token = "glrt-{index:020d}"
  token_obtained_at = 2025-01-01T00:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
    volumes = ["/cache"]
'''


def config_text(size):
    """A config.toml of about ``size`` bytes: as many [[runners]] entries as that takes."""
    text = 'concurrent = 4\ncheck_interval = 0\n'
    index = 0
    while len(text) < size:
        text += ENTRY.format(index=index, padding='x' * 60)
        index += 1
    return text, index


def module_process(tmp_path, args, number):
    """A module run as Ansible runs one: a new Python reading its arguments from a JSON file."""
    args_file = tmp_path / ('args-%02d.json' % number)
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_diff=False)}))
    environment = dict(os.environ, PYTHONPATH=COLLECTIONS)
    return subprocess.Popen([sys.executable, '-m', MODULE, str(args_file)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environment, cwd=str(tmp_path))


def run_at_once(tmp_path, path, names):
    """Start one run per runner name, each setting that runner's limit; their results in order."""
    processes = [module_process(tmp_path, dict(path=str(path), name=name, settings={'limit': 1000 + number}), number)
                 for number, name in enumerate(names)]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert stdout, stderr.decode('utf-8', 'replace')
        results.append(json.loads(stdout))
    return results


def lost_edits(path, names, results):
    """The runs that failed, or said changed and whose edit is not in the file."""
    runners = dict((runner['name'], runner) for runner in tomllib.loads(path.read_text())['runners'])
    lost = []
    for number, (name, result) in enumerate(zip(names, results)):
        if result.get('failed') or not result['changed'] or runners[name].get('limit') != 1000 + number:
            lost.append((name, result.get('msg', 'changed=%s' % result.get('changed'))))
    return lost


@pytest.mark.parametrize('size, trials', [(50_000, 3), (700_000, 1)], ids=['50KB', '700KB'])
def test_simultaneous_runs_keep_every_edit(tmp_path, size, trials):
    text, count = config_text(size)
    path = tmp_path / 'config.toml'
    step = count // RUNS
    names = ['r%05d' % (number * step) for number in range(RUNS)]
    for dummy_trial in range(trials):
        path.write_text(text)
        path.chmod(0o600)
        results = run_at_once(tmp_path, path, names)
        assert lost_edits(path, names, results) == []
        assert all('diff' not in result for result in results)
        data = tomllib.loads(path.read_text())
        assert len(data['runners']) == count and data['runners'][1]['token'] == 'glrt-%020d' % 1
        assert sorted(name for name in os.listdir(tmp_path) if not name.startswith('args-')) == ['config.toml']
