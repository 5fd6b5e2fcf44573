# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""package_index through its main(), against a stand-in apt on PATH.

The stand-in keeps apt's state in a folder: ``lists/`` is what
``apt-get update`` fills (empty but new on a fresh host), ``status`` the
installed packages, ``archive`` what the repositories offer, ``calls`` every
command run. The real apt is exercised by the docker_proxy scenario.
"""

from __future__ import annotations

import os
import stat
import textwrap

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules.package_index import main, parse_policy

FAKE_APT = textwrap.dedent('''\
    #!/usr/bin/env python3
    import os, pathlib, sys
    state = pathlib.Path(os.environ['FAKE_APT_STATE'])
    tool = pathlib.Path(sys.argv[0]).name
    with open(state / 'calls', 'a') as calls:
        calls.write(' '.join([tool] + sys.argv[1:]) + '\\n')
    lines = lambda name: dict(l.split('=', 1) for l in (state / name).read_text().split())
    if tool == 'apt-get':
        if (state / 'update-fails').exists():
            sys.stderr.write('E: Failed to fetch http://user:hunter2@proxy.lab.test/debian\\n')
            sys.exit(100)
        if (state / 'proxy-down').exists():
            # What apt 2.6 says when its proxy is down: it warns, and exits 0.
            sys.stderr.write(
                "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  "
                "Temporary failure resolving 'corp-proxy'\\n"
                "W: Some index files failed to download. They have been ignored, or old ones used instead.\\n")
            sys.exit(0)
        (state / 'lists' / 'Packages').write_text((state / 'archive').read_text())
        sys.exit(0)
    installed = lines('status')
    index = state / 'lists' / 'Packages'
    archive = dict(l.split('=', 1) for l in index.read_text().split()) if index.exists() else {}
    for name in sys.argv[2:]:
        if name not in installed and name not in archive:
            sys.stderr.write('N: Unable to locate package %s\\n' % name)
            continue
        print('%s:' % name)
        print('  Installed: %s' % installed.get(name, '(none)'))
        print('  Candidate: %s' % archive.get(name, installed.get(name, '(none)')))
        print('  Version table:')
''')


@pytest.fixture
def apt(tmp_path, monkeypatch):
    """A fresh host: nothing installed beyond python3, empty package lists."""
    state = tmp_path / 'apt'
    (state / 'lists').mkdir(parents=True)
    (state / 'status').write_text('python3=3.11.2-1+b1\n')
    (state / 'archive').write_text('docker.io=20.10.24+dfsg1-1+deb12u1\ncntlm=0.92.3-1.2\npython3=3.11.2-1+b1\n')
    (state / 'calls').write_text('')
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('apt-get', 'apt-cache'):
        path = bin_dir / tool
        path.write_text(FAKE_APT)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv('FAKE_APT_STATE', str(state))
    monkeypatch.setenv('PATH', '%s%s%s' % (bin_dir, os.pathsep, os.environ['PATH']))
    return state


def updates(state):
    return [line for line in (state / 'calls').read_text().splitlines() if line.startswith('apt-get update')]


def test_empty_but_fresh_lists_are_read_when_a_package_has_no_candidate(run_module, apt):
    result, failed, _warnings = run_module(main, {'packages': ['docker.io']})
    assert not failed, result
    assert result['refreshed'] is True
    assert result['changed'] is False
    assert result['packages'] == {'docker.io': {'installed': None, 'candidate': '20.10.24+dfsg1-1+deb12u1'}}
    assert len(updates(apt)) == 1


def test_check_mode_reads_the_index_too(run_module, apt):
    result, failed, _warnings = run_module(main, {'packages': ['cntlm']}, check_mode=True)
    assert not failed, result
    assert result['refreshed'] is True
    assert result['packages']['cntlm']['candidate'] == '0.92.3-1.2'


def test_a_converged_host_does_not_read_the_index(run_module, apt):
    (apt / 'status').write_text('docker.io=20.10.24+dfsg1-1+deb12u1\ncntlm=0.92.3-1.2\n')
    result, failed, _warnings = run_module(main, {'packages': ['docker.io', 'cntlm']})
    assert not failed, result
    assert result['refreshed'] is False
    assert result['packages']['cntlm'] == {'installed': '0.92.3-1.2', 'candidate': '0.92.3-1.2'}
    assert updates(apt) == []


def test_lists_that_already_have_the_package_are_not_read_again(run_module, apt):
    (apt / 'lists' / 'Packages').write_text((apt / 'archive').read_text())
    result, failed, _warnings = run_module(main, {'packages': ['docker.io']})
    assert not failed, result
    assert result['refreshed'] is False
    assert updates(apt) == []


def test_a_package_no_repository_has_is_a_clear_error(run_module, apt):
    result, failed, _warnings = run_module(main, {'packages': ['docker.io', 'no-such-package']})
    assert failed
    assert 'no-such-package' in result['msg'] and 'docker.io' not in result['msg']
    assert 'sources.list' in result['msg']
    assert len(updates(apt)) == 1


def test_a_missing_package_can_be_reported_instead(run_module, apt):
    result, failed, _warnings = run_module(main, {'packages': ['no-such-package'], 'fail_on_missing': False})
    assert not failed, result
    assert result['packages'] == {'no-such-package': {'installed': None, 'candidate': None}}


def test_a_proxy_that_is_down_is_named_when_no_candidate_is_found(run_module, apt):
    # apt-get update exits 0 when it cannot reach a repository; the
    # reason is in its warnings, which the message must carry.
    (apt / 'proxy-down').write_text('')
    result, failed, _warnings = run_module(main, {'packages': ['docker.io']})
    assert failed
    assert result['msg'].startswith('No install candidate for docker.io, even after reading the package index: '
                                    'apt-get update could not read every repository')
    assert "Temporary failure resolving 'corp-proxy'" in result['msg']
    assert 'sources.list' not in result['msg']
    assert len(updates(apt)) == 1


def test_a_failed_update_names_the_error_without_the_password(run_module, apt):
    (apt / 'update-fails').write_text('')
    result, failed, _warnings = run_module(main, {'packages': ['docker.io']})
    assert failed
    assert 'apt-get update' in result['msg'] and 'Failed to fetch' in result['msg']
    assert 'hunter2' not in result['msg']


@pytest.mark.parametrize('packages', [[], ['docker.io', '-o'], ['two words']])
def test_bad_package_names_are_refused_before_apt_runs(run_module, apt, packages):
    result, failed, _warnings = run_module(main, {'packages': packages})
    assert failed
    assert 'package names' in result['msg']
    assert (apt / 'calls').read_text() == ''


def test_parse_policy_reads_each_block():
    text = textwrap.dedent('''\
        docker.io:
          Installed: (none)
          Candidate: 20.10.24+dfsg1-1+deb12u1
          Version table:
             20.10.24+dfsg1-1+deb12u1 500
                500 http://deb.debian.org/debian bookworm/main amd64 Packages
        cntlm:
          Installed: 0.92.3-1.2
          Candidate: (none)
          Version table:
         *** 0.92.3-1.2 100
                100 /var/lib/dpkg/status
        ''')
    assert parse_policy(text) == {
        'docker.io': {'installed': None, 'candidate': '20.10.24+dfsg1-1+deb12u1'},
        'cntlm': {'installed': '0.92.3-1.2', 'candidate': None},
    }
