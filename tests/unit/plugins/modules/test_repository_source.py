# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""repository_source: the one source of a repository, taking over the sources a host already has for it."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules.repository_source import main

REPOSITORY = 'https://packages.gitlab.com/runner/gitlab-runner/debian/'
KEYRING = '/etc/apt/keyrings/gitlab-runner.asc'
GITLAB_SCRIPT_LIST = (
    'deb [signed-by=/usr/share/keyrings/runner_gitlab-runner-archive-keyring.gpg] '
    'https://packages.gitlab.com/runner/gitlab-runner/debian/ bookworm main\n'
    'deb-src [signed-by=/usr/share/keyrings/runner_gitlab-runner-archive-keyring.gpg] '
    'https://packages.gitlab.com/runner/gitlab-runner/debian/ bookworm main\n')
DEBIAN = 'deb http://deb.debian.org/debian bookworm main\n'


@pytest.fixture
def apt(tmp_path):
    """A folder laid out like /etc/apt: sources.list (Debian's) and sources.list.d with GitLab's script's file."""
    parts = tmp_path / 'sources.list.d'
    parts.mkdir()
    (tmp_path / 'sources.list').write_text(DEBIAN)
    (parts / 'runner_gitlab-runner.list').write_text(GITLAB_SCRIPT_LIST)
    (parts / 'runner_gitlab-runner.list').chmod(0o644)
    return tmp_path


@pytest.fixture
def source(apt, run_module):
    def run(check_mode=False, **args):
        args = dict(dict(url=REPOSITORY, suite='bookworm', signed_by=KEYRING,
                         dest=str(apt / 'sources.list.d' / 'gitlab-runner.list'),
                         sources_list=str(apt / 'sources.list'), sources_dir=str(apt / 'sources.list.d')), **args)
        return run_module(main, args, check_mode=check_mode)
    return run


def apt_policy(apt):
    (apt / 'lists' / 'partial').mkdir(parents=True, exist_ok=True)
    return subprocess.run(['apt-cache', '-o', 'Dir::Etc::sourcelist=%s' % (apt / 'sources.list'),
                           '-o', 'Dir::Etc::sourceparts=%s' % (apt / 'sources.list.d'),
                           '-o', 'Dir::State::Lists=%s' % (apt / 'lists'), 'policy'],
                          capture_output=True, text=True, check=False)


def test_the_source_gitlabs_script_wrote_is_taken_over_and_said_so(apt, source):
    result, failed, warnings = source()
    assert not failed, result
    assert result['changed']
    script_file = str(apt / 'sources.list.d' / 'runner_gitlab-runner.list')
    assert result['taken_over'] == {script_file: GITLAB_SCRIPT_LIST.splitlines()}
    assert any(script_file in warning and 'Took over' in warning for warning in warnings)
    own = (apt / 'sources.list.d' / 'gitlab-runner.list')
    assert own.read_text().splitlines()[1] == 'deb [signed-by=%s] %s bookworm main' % (KEYRING, REPOSITORY)
    assert oct(own.stat().st_mode & 0o777) == '0o644'
    assert all(line.startswith('#') for line in (apt / 'sources.list.d' / 'runner_gitlab-runner.list').read_text().splitlines())
    assert (apt / 'sources.list').read_text() == DEBIAN
    again, failed, warnings = source()
    assert not failed and not again['changed'] and again['taken_over'] == {} and not warnings


@pytest.mark.skipif(not shutil.which('apt-cache'), reason='apt is not installed here')
def test_apt_reads_its_sources_again_after_the_take_over(apt, source):
    (apt / 'sources.list.d' / 'gitlab-runner.list').write_text('deb [signed-by=%s] %s bookworm main\n'
                                                               % (KEYRING, REPOSITORY))
    assert 'Conflicting values set for option Signed-By' in apt_policy(apt).stderr
    result, failed, dummy = source()
    assert not failed, result
    policy = apt_policy(apt)
    assert (policy.returncode, policy.stderr) == (0, '')


def test_check_mode_reports_the_take_over_and_writes_nothing(apt, source):
    before = sorted((path.name, path.read_text()) for path in (apt / 'sources.list.d').iterdir())
    result, failed, dummy = source(check_mode=True)
    assert not failed and result['changed'] and len(result['taken_over']) == 1
    assert sorted((path.name, path.read_text()) for path in (apt / 'sources.list.d').iterdir()) == before


def test_a_stanza_shared_with_another_repository_fails_naming_the_file_before_writing(apt, source):
    shared = apt / 'sources.list.d' / 'shared.sources'
    shared.write_text('Types: deb\nURIs: http://deb.debian.org/debian %s\nSuites: bookworm\nComponents: main\n'
                      % REPOSITORY)
    result, failed, dummy = source()
    assert failed and str(shared) in result['msg'] and 'line 1' in result['msg']
    assert not (apt / 'sources.list.d' / 'gitlab-runner.list').exists()
    assert (apt / 'sources.list.d' / 'runner_gitlab-runner.list').read_text() == GITLAB_SCRIPT_LIST


def test_a_url_with_credentials_is_refused_without_showing_them(apt, source):
    result, failed, dummy = source(url='https://deploy:S3cret-Repo@packages.gitlab.com/runner/gitlab-runner/debian/')
    assert failed and '/etc/apt/auth.conf.d/' in result['msg']
    assert 'S3cret-Repo' not in json.dumps(result)
    assert not (apt / 'sources.list.d' / 'gitlab-runner.list').exists()


def test_files_apt_does_not_read_are_left_alone(apt, source):
    ignored = apt / 'sources.list.d' / 'runner_gitlab-runner.list.save'
    ignored.write_text(GITLAB_SCRIPT_LIST)
    result, failed, dummy = source()
    assert not failed and str(ignored) not in result['taken_over']
    assert ignored.read_text() == GITLAB_SCRIPT_LIST
