# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""repository_key through its main(): a key served on loopback, accepted or not, in check mode or not."""

from __future__ import annotations

import base64
import http.server
import json
import stat
import subprocess
import threading

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.behindproxy.gitlab_runner.plugins.modules.repository_key import main, split_credentials


USER = 'runner-user'
# A raw "@" in the password, as Go and curl accept it: the user info ends at the last "@".
PASSWORD = 'P@ss-w0rd-7q'


@pytest.fixture
def keys(gnupg):
    """conftest's keys: the vendor's old (RSA) and new (ed25519, with a subkey) keys and a stranger's."""
    return gnupg.keys


def release_verifies(gnupg, signer, keyring, tmp_path):
    """Whether gpgv, given ``keyring`` as apt gives it a signed-by file, accepts a Release file signed by ``signer``."""
    release = tmp_path / 'Release'
    release.write_text('Origin: lab\nSuite: stable\n')
    signature = tmp_path / 'Release.gpg'
    signature.unlink(missing_ok=True)
    gnupg.run('--local-user', signer, '--detach-sign', '--output', str(signature), str(release))
    home = tmp_path / 'gpgv-home'
    home.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(['gpgv', '--homedir', str(home), '--keyring', str(keyring), str(signature), str(release)],
                          capture_output=True, check=False).returncode == 0


def dearmored(gnupg, path, tmp_path):
    """A binary copy of an armoured keyring, as apt makes one for gpgv."""
    binary = tmp_path / (path.name + '.gpg')
    binary.write_bytes(gnupg.run('--dearmor', stdin=path.read_bytes()))
    return binary


@pytest.fixture
def served():
    """A loopback server whose /gpgkey answers what the test puts in served['key'].

    With served['authorization'] set, it answers 401 to a request without that Authorization header.
    """
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the base class's name
            state['received'].append(self.headers.get('Authorization'))
            body = state['key']
            if state['authorization'] and self.headers.get('Authorization') != state['authorization']:
                status, body = 401, b''
            else:
                status = 200 if body is not None else 404
            self.send_response(status)
            if status == 401:
                self.send_header('WWW-Authenticate', 'Basic realm="mirror"')
            self.send_header('Content-Length', str(len(body or b'')))
            self.end_headers()
            self.wfile.write(body or b'')

        def log_message(self, format, *args):  # noqa: A002 - the base class's signature
            return

    state = {'key': None, 'authorization': None, 'received': []}
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state['url'] = 'http://127.0.0.1:%d/gpgkey' % server.server_address[1]
    state['url_with_credentials'] = 'http://%s:%s@127.0.0.1:%d/gpgkey' % (USER, PASSWORD, server.server_address[1])
    yield state
    server.shutdown()
    server.server_close()


def test_an_accepted_key_is_installed_once(run_module, keys, served, tmp_path):
    old_key, old_fingerprint = keys[0].armored, keys[0].fingerprint
    served['key'] = old_key
    dest = tmp_path / 'keyrings' / 'vendor.asc'
    dest.parent.mkdir()
    args = dict(url=served['url'], dest=str(dest), fingerprints=[' '.join([old_fingerprint[:20], old_fingerprint[20:]])])
    result, failed, dummy = run_module(main, args)
    assert not failed and result['changed'], result
    assert dest.read_bytes() == old_key and stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert result['fingerprints'] == [old_fingerprint]
    again, failed, dummy = run_module(main, args)
    assert not failed and not again['changed'], again


def test_a_replaced_key_is_installed_when_accepted_and_refused_otherwise(run_module, keys, served, tmp_path):
    (old_key, old_fingerprint), (new_key, new_fingerprint) = [(key.armored, key.fingerprint) for key in keys[:2]]
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
    old_key, old_fingerprint = keys[0].armored, keys[0].fingerprint
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


# ---------------------------------------------------------------- only accepted keys reach the keyring

def test_a_key_added_to_the_vendors_file_is_not_installed(run_module, gnupg, keys, served, tmp_path):
    # One file, as a tampered mirror would serve it: the vendor's key and a stranger's, binary.
    vendor, dummy, stranger = keys
    served['key'] = vendor.binary + stranger.binary
    dest = tmp_path / 'vendor.gpg'
    result, failed, warnings = run_module(main, dict(url=served['url'], dest=str(dest),
                                                     fingerprints=[vendor.fingerprint]))
    assert not failed and result['changed'], result
    assert release_verifies(gnupg, vendor.fingerprint, dest, tmp_path)
    assert not release_verifies(gnupg, stranger.fingerprint, dest, tmp_path)
    assert result['fingerprints'] == [vendor.fingerprint, stranger.fingerprint]
    assert result['installed_fingerprints'] == [vendor.fingerprint]
    assert any(stranger.fingerprint in warning and 'not accepted' in warning for warning in warnings), warnings


def test_every_armoured_block_is_read_and_only_accepted_keys_are_installed(run_module, gnupg, keys, served, tmp_path):
    # Two blocks one after the other: apt reads both; the stranger's comes first.
    vendor, dummy, stranger = keys
    served['key'] = stranger.armored + b'\n' + vendor.armored
    dest = tmp_path / 'vendor.asc'
    result, failed, warnings = run_module(main, dict(url=served['url'], dest=str(dest),
                                                     fingerprints=[vendor.fingerprint]))
    assert not failed, result
    assert result['fingerprints'] == [stranger.fingerprint, vendor.fingerprint]
    assert result['installed_fingerprints'] == [vendor.fingerprint]
    assert dest.read_bytes() == vendor.armored
    keyring = dearmored(gnupg, dest, tmp_path)
    assert release_verifies(gnupg, vendor.fingerprint, keyring, tmp_path)
    assert not release_verifies(gnupg, stranger.fingerprint, keyring, tmp_path)
    again, failed, dummy = run_module(main, dict(url=served['url'], dest=str(dest), fingerprints=[vendor.fingerprint]))
    assert not failed and not again['changed'], again


def test_accepted_keys_from_several_blocks_are_all_installed(run_module, gnupg, keys, served, tmp_path):
    # A vendor's rollover file: old and new key, each in its own block, with a stranger's in between.
    old, new, stranger = keys
    served['key'] = old.armored + stranger.armored + new.armored
    dest = tmp_path / 'vendor.gpg'
    result, failed, dummy = run_module(main, dict(url=served['url'], dest=str(dest),
                                                  fingerprints=[new.fingerprint, old.fingerprint]))
    assert not failed, result
    assert release_verifies(gnupg, new.fingerprint, dest, tmp_path)
    assert not release_verifies(gnupg, stranger.fingerprint, dest, tmp_path)
    assert result['installed_fingerprints'] == [old.fingerprint, new.fingerprint]
    assert dest.read_bytes() == old.binary + new.binary


def test_a_secret_key_is_refused_and_nothing_is_written(run_module, gnupg, keys, served, tmp_path):
    vendor = keys[0]
    served['key'] = gnupg.run('--armor', '--export-secret-keys', vendor.fingerprint)
    dest = tmp_path / 'vendor.asc'
    result, failed, dummy = run_module(main, dict(url=served['url'], dest=str(dest), fingerprints=[vendor.fingerprint]))
    assert failed and 'secret key' in result['msg'] and not dest.exists(), result


# ---------------------------------------------------------------- credentials in the key URL

def printed_result(args, capsys):
    """What the module prints, with Ansible's real exit_json and fail_json: (text, parsed, exit code)."""
    with patch_module_args(dict(args, _ansible_diff=True)):
        with pytest.raises(SystemExit) as exited:
            main()
    printed = capsys.readouterr().out
    return printed, json.loads(printed), exited.value.code


def credential_forms():
    basic = base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()
    return [PASSWORD, PASSWORD.replace('@', '%40'), '%s:%s' % (USER, PASSWORD), basic]


def test_credentials_in_the_key_url_are_sent_and_never_shown(keys, served, tmp_path, capsys):
    vendor = keys[0]
    served['key'] = vendor.armored
    served['authorization'] = 'Basic ' + base64.b64encode(('%s:%s' % (USER, PASSWORD)).encode()).decode()
    dest = tmp_path / 'vendor.asc'
    printed, result, code = printed_result(dict(url=served['url_with_credentials'], dest=str(dest),
                                                fingerprints=[vendor.fingerprint]), capsys)
    assert code == 0 and result['changed'] and dest.read_bytes() == vendor.armored, result
    assert served['received'] == [served['authorization']]
    assert result['invocation']['module_args']['url'].startswith('http://%s:********@127.0.0.1:' % USER)
    for form in credential_forms():
        assert form not in printed


def test_a_refused_password_is_named_nowhere(keys, served, tmp_path, capsys):
    served['key'] = keys[0].armored
    served['authorization'] = 'Basic ' + base64.b64encode(b'runner-user:another-password').decode()
    dest = tmp_path / 'vendor.asc'
    printed, result, code = printed_result(dict(url=served['url_with_credentials'], dest=str(dest),
                                                fingerprints=[keys[0].fingerprint]), capsys)
    assert code == 1 and 'HTTP 401' in result['msg'] and not dest.exists(), result
    assert 'http://%s:********@127.0.0.1:' % USER in result['msg']
    for form in credential_forms():
        assert form not in printed


def test_a_url_that_does_not_parse_is_refused_without_showing_it(run_module, tmp_path):
    result, failed, dummy = run_module(main, dict(url='http://%s:%s@[::1/gpgkey' % (USER, PASSWORD),
                                                  dest=str(tmp_path / 'k.asc'), fingerprints=['A' * 40]))
    assert failed and 'not a URL' in result['msg'] and PASSWORD not in result['msg'], result


@pytest.mark.parametrize('url, plain, shown, user, password', [
    ('https://mirror.lab.test/key.gpg', 'https://mirror.lab.test/key.gpg', 'https://mirror.lab.test/key.gpg', None, None),
    ('https://u:p%40ss@mirror.lab.test:8443/key?x=1', 'https://mirror.lab.test:8443/key?x=1',
     'https://u:********@mirror.lab.test:8443/key?x=1', 'u', 'p@ss'),
    ('https://u:p@ss@mirror.lab.test/key', 'https://mirror.lab.test/key', 'https://u:********@mirror.lab.test/key', 'u',
     'p@ss'),
    ('https://deploy-token@mirror.lab.test/key', 'https://mirror.lab.test/key', 'https://deploy-token@mirror.lab.test/key',
     'deploy-token', None),
])
def test_credentials_are_split_at_the_last_at_sign(url, plain, shown, user, password):
    key_url = split_credentials(url)
    assert (key_url.plain, key_url.shown, key_url.user, key_url.password) == (plain, shown, user, password)
    assert (password in key_url.secrets) if password else not key_url.secrets


def test_every_form_of_the_password_is_a_secret():
    assert split_credentials('https://u:p%40ss@mirror.lab.test/key').secrets == {
        'p%40ss', 'p@ss', base64.b64encode(b'u:p@ss').decode()}
