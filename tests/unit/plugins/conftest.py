# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Throwaway OpenPGP keys made by gpg, for the tests of _openpgp, the openpgp_fingerprints filter and repository_key."""

from __future__ import annotations

import subprocess
from collections import namedtuple

import pytest

OpenPGPKey = namedtuple('OpenPGPKey', 'fingerprint subkey_fingerprints armored binary')


class GnuPG:
    """A GnuPG home of its own and the keys made in it."""

    def __init__(self, home):
        self.home = home
        self.keys = []

    def run(self, *arguments, stdin=None):
        return subprocess.run(['gpg', '--homedir', str(self.home), '--batch', '--quiet', '--pinentry-mode', 'loopback',
                               '--passphrase', '', *arguments], input=stdin, capture_output=True, check=True).stdout

    def fingerprints(self, data=None):
        """(primary, [subkeys]) of each key in ``data`` as gpg reads it without importing it, or of its own keys."""
        arguments = ('--show-keys',) if data is not None else ('--list-keys',)
        found = []
        for line in self.run('--with-colons', *arguments, stdin=data).decode().splitlines():
            if line.startswith(('pub:', 'sub:')):
                kind = line[:3]
            elif line.startswith('fpr:') and kind == 'pub':
                found.append((line.split(':')[9], []))
            elif line.startswith('fpr:'):
                found[-1][1].append(line.split(':')[9])
        return found


@pytest.fixture(scope='session')
def gnupg(tmp_path_factory):
    """Three signing keys: RSA (packets over 191 bytes), ed25519 with an encryption subkey, and ed25519."""
    home = tmp_path_factory.mktemp('gnupg')
    home.chmod(0o700)
    made = GnuPG(home)
    made.run('--quick-generate-key', 'vendor key <vendor@lab.test>', 'rsa2048', 'sign', '1d')
    made.run('--quick-generate-key', 'new vendor key <new@lab.test>', 'ed25519', 'sign', '1d')
    made.run('--quick-generate-key', 'stranger key <stranger@lab.test>', 'ed25519', 'sign', '1d')
    made.run('--quick-add-key', made.fingerprints()[1][0], 'cv25519', 'encr', '1d')
    made.keys = [OpenPGPKey(primary, subkeys, made.run('--armor', '--export', primary), made.run('--export', primary))
                 for primary, subkeys in made.fingerprints()]
    return made
