# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""openpgp_fingerprints agrees with gpg on keys gpg makes here."""

from __future__ import annotations

import subprocess

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.openpgp import openpgp_fingerprints


def gpg(home, *arguments, stdin=None):
    return subprocess.run(['gpg', '--homedir', str(home), '--batch', '--quiet', *arguments],
                          input=stdin, capture_output=True, check=True).stdout


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    """Two signing keys, one RSA and one ed25519 with an encryption subkey: armoured text, binary, fingerprints."""
    home = tmp_path_factory.mktemp('gnupg')
    home.chmod(0o700)
    gpg(home, '--passphrase', '', '--quick-generate-key', 'rsa key <rsa@lab.test>', 'rsa2048', 'sign', '1d')
    gpg(home, '--passphrase', '', '--quick-generate-key', 'ecc key <ecc@lab.test>', 'ed25519', 'sign', '1d')
    listing = gpg(home, '--with-colons', '--list-keys').decode()
    primary = []
    for line, following in zip(listing.splitlines(), listing.splitlines()[1:]):
        if line.startswith('pub:') and following.startswith('fpr:'):
            primary.append(following.split(':')[9])
    ecc = primary[1]
    gpg(home, '--passphrase', '', '--quick-add-key', ecc, 'cv25519', 'encr', '1d')
    listing = gpg(home, '--with-colons', '--list-keys', ecc).decode()
    subkey = [line.split(':')[9] for line in listing.splitlines() if line.startswith('fpr:')][1]
    return {
        'armored': gpg(home, '--armor', '--export').decode(),
        'blocks': ''.join(gpg(home, '--armor', '--export', fingerprint).decode() for fingerprint in primary),
        'binary': gpg(home, '--export'),
        'primary': primary,
        'subkey': subkey,
    }


def test_armoured_keys_give_gpgs_fingerprints(keys):
    assert openpgp_fingerprints(keys['armored']) == keys['primary']


def test_armoured_keys_as_bytes_too(keys):
    # As a download hands them over.
    assert openpgp_fingerprints(keys['armored'].encode('ascii')) == keys['primary']


def test_every_armoured_block_is_read(keys):
    # One block per key, one after the other, as apt and gpg read them.
    assert openpgp_fingerprints(keys['blocks']) == keys['primary']


def test_binary_keys_too(keys):
    assert openpgp_fingerprints(keys['binary']) == keys['primary']


def test_subkeys_on_request(keys):
    assert keys['subkey'] in openpgp_fingerprints(keys['armored'], subkeys=True)
    assert keys['subkey'] not in openpgp_fingerprints(keys['armored'])


@pytest.mark.parametrize('text, message', [
    ('<html>Not Found</html>', 'BEGIN PGP'),
    ('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n', 'base64'),
    ('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n', 'packet header'),
])
def test_what_is_not_a_key_is_refused(text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        openpgp_fingerprints(text)


def test_a_truncated_key_is_refused(keys):
    with pytest.raises(AnsibleFilterError, match='ends inside a packet|holds no public key'):
        openpgp_fingerprints(keys['binary'][:40])
