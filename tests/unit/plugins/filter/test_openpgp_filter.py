# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""openpgp_fingerprints agrees with gpg on keys gpg makes here."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.openpgp import openpgp_fingerprints


@pytest.fixture(scope='module')
def keys(gnupg):
    """conftest's RSA key and ed25519 key with a subkey: in one armoured block, one block each, binary, fingerprints."""
    primary = [key.fingerprint for key in gnupg.keys[:2]]
    return {
        'armored': gnupg.run('--armor', '--export', *primary).decode(),
        'blocks': ''.join(key.armored.decode() for key in gnupg.keys[:2]),
        'binary': gnupg.run('--export', *primary),
        'primary': primary,
        'subkey': gnupg.keys[1].subkey_fingerprints[0],
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
