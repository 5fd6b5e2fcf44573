# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""repository_key through its main(): a key served on loopback, accepted or not, in check mode or not."""

from __future__ import annotations

import http.server
import stat
import subprocess
import threading

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.modules.repository_key import main


def gpg(home, *arguments):
    return subprocess.run(['gpg', '--homedir', str(home), '--batch', '--quiet', *arguments],
                          capture_output=True, check=True).stdout


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    """Two armoured keys (the vendor's old and new) and their fingerprints."""
    found = []
    for name in ('old', 'new'):
        home = tmp_path_factory.mktemp('gnupg-' + name)
        home.chmod(0o700)
        gpg(home, '--passphrase', '', '--quick-generate-key', '%s key <%s@lab.test>' % (name, name), 'ed25519', 'sign', '1d')
        listing = gpg(home, '--with-colons', '--list-keys').decode().splitlines()
        fingerprint = [line.split(':')[9] for line in listing if line.startswith('fpr:')][0]
        found.append((gpg(home, '--armor', '--export'), fingerprint))
    return found


@pytest.fixture
def served():
    """A loopback server whose /gpgkey answers what the test puts in served.key."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            body = state['key']
            self.send_response(200 if body is not None else 404)
            self.send_header('Content-Length', str(len(body or b'')))
            self.end_headers()
            self.wfile.write(body or b'')

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            return

    state = {'key': None}
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state['url'] = 'http://127.0.0.1:%d/gpgkey' % server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def test_an_accepted_key_is_installed_once(run_module, keys, served, tmp_path):
    (old_key, old_fingerprint), _new = keys
    served['key'] = old_key
    dest = tmp_path / 'keyrings' / 'vendor.asc'
    dest.parent.mkdir()
    args = dict(url=served['url'], dest=str(dest), fingerprints=[' '.join([old_fingerprint[:20], old_fingerprint[20:]])])
    result, failed, dummy = run_module(main, args)
    assert not failed and result['changed'], result
    assert dest.read_bytes() == old_key and stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert result['fingerprints'] == [old_fingerprint]
    again, failed, dummy = run_module(main, args)
    assert not failed and not again['changed']


def test_a_replaced_key_is_installed_when_accepted_and_refused_otherwise(run_module, keys, served, tmp_path):
    (old_key, old_fingerprint), (new_key, new_fingerprint) = keys
    dest = tmp_path / 'vendor.asc'
    dest.write_bytes(old_key)
    served['key'] = new_key
    refused, failed, dummy = run_module(main, dict(url=served['url'], dest=str(dest), fingerprints=[old_fingerprint]))
    assert failed and new_fingerprint in refused['msg'] and 'none of which is accepted' in refused['msg']
    assert dest.read_bytes() == old_key
    accepted, failed, dummy = run_module(main, dict(url=served['url'], dest=str(dest),
                                                    fingerprints=[old_fingerprint, new_fingerprint.lower()]))
    assert not failed and accepted['changed'] and accepted['previous_fingerprints'] == [old_fingerprint]
    assert dest.read_bytes() == new_key


def test_check_mode_reports_without_writing(run_module, keys, served, tmp_path):
    (old_key, old_fingerprint), _new = keys
    served['key'] = old_key
    dest = tmp_path / 'vendor.asc'
    result, failed, dummy = run_module(main, dict(url=served['url'], dest=str(dest), fingerprints=[old_fingerprint]),
                                       check_mode=True)
    assert not failed and result['changed'] and not dest.exists()


def test_an_unreadable_key_fails_but_only_warns_in_check_mode(run_module, served, tmp_path):
    args = dict(url=served['url'], dest=str(tmp_path / 'vendor.asc'), fingerprints=['A' * 40],
                proxy='http://user:hunter2@127.0.0.1:9')
    result, failed, dummy = run_module(main, args)
    assert failed and 'cannot download the key' in result['msg'] and 'hunter2' not in result['msg']
    checked, failed, warnings = run_module(main, args, check_mode=True)
    assert not failed and checked['changed'] and any('cannot be checked yet' in warning for warning in warnings)


def test_what_is_not_a_key_is_named(run_module, served, tmp_path):
    served['key'] = b'<html>not found</html>'
    result, failed, dummy = run_module(main, dict(url=served['url'], dest=str(tmp_path / 'k.asc'), fingerprints=['A' * 40]))
    assert failed and 'does not serve an OpenPGP key' in result['msg']


def test_bad_fingerprints_are_refused_before_any_download(run_module, served, tmp_path):
    result, failed, dummy = run_module(main, dict(url=served['url'], dest=str(tmp_path / 'k.asc'), fingerprints=['abc']))
    assert failed and "'abc'" in result['msg']
