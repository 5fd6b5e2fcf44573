# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""_openpgp reads key files as gpg does (every block, every packet header form) and writes only the keys it is given.

gpg's own reading (``gpg --show-keys``) of the same bytes is the reference; the keys are conftest's.
"""

from __future__ import annotations

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _openpgp


def gpg_fingerprints(gnupg, data):
    """The primary key fingerprints gpg reads in ``data``."""
    return [primary for primary, dummy in gnupg.fingerprints(data)]


@pytest.fixture(scope='module')
def two_keys(gnupg):
    """An RSA key (packets over 191 bytes) and an ed25519 key with a subkey."""
    return gnupg.keys[:2]


def new_header(tag, length, two_octets_when_possible):
    if length < 192 and two_octets_when_possible:
        return bytes([0xC0 | tag, length])
    if length < 8384 and two_octets_when_possible:
        return bytes([0xC0 | tag, ((length - 192) >> 8) + 192, (length - 192) & 0xFF])
    return bytes([0xC0 | tag, 255]) + length.to_bytes(4, 'big')


def old_header(tag, length, size):
    return bytes([0x80 | (tag << 2) | {1: 0, 2: 1, 4: 2}[size]]) + length.to_bytes(size, 'big')


ENCODINGS = {
    'new format, shortest lengths': lambda tag, length: new_header(tag, length, True),
    'new format, five-octet lengths': lambda tag, length: new_header(tag, length, False),
    'old format, two-octet lengths': lambda tag, length: old_header(tag, length, 2),
    'old format, four-octet lengths': lambda tag, length: old_header(tag, length, 4),
}


def reencoded(binary, header):
    return b''.join(header(tag, len(body)) + body for tag, dummy, body in _openpgp._packets(binary))


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_every_packet_header_form_reads_as_gpg_reads_it(gnupg, two_keys, encoding):
    data = b''.join(reencoded(key.binary, ENCODINGS[encoding]) for key in two_keys)
    assert data != b''.join(key.binary for key in two_keys)
    assert _openpgp.fingerprints(data) == gpg_fingerprints(gnupg, data) == [key.fingerprint for key in two_keys]


def test_every_armoured_block_is_read(gnupg, two_keys):
    # As two files appended one to the other, with text around them.
    data = b'the vendor key\n' + b'\n'.join(key.armored for key in two_keys) + b'\nend\n'
    assert _openpgp.fingerprints(data) == gpg_fingerprints(gnupg, data) == [key.fingerprint for key in two_keys]


def test_binary_files_appended_read_as_one(gnupg, two_keys):
    data = b''.join(key.binary for key in two_keys)
    assert _openpgp.fingerprints(data) == gpg_fingerprints(gnupg, data) == [key.fingerprint for key in two_keys]


def test_a_key_is_its_packets_up_to_the_next_key(two_keys):
    keys = _openpgp.read_keys(b''.join(key.binary for key in two_keys))
    assert [b''.join(key.packets) for key in keys] == [key.binary for key in two_keys]
    assert [key.subkey_fingerprints for key in keys] == [key.subkey_fingerprints for key in two_keys]


@pytest.mark.parametrize('armoured', [False, True])
def test_a_keyring_holds_the_keys_given_and_nothing_else(gnupg, two_keys, armoured):
    rsa, ecc = two_keys
    keys = _openpgp.read_keys(b''.join(key.armored for key in two_keys))
    written = _openpgp.keyring([key for key in keys if key.fingerprint == ecc.fingerprint], armoured=armoured)
    assert gpg_fingerprints(gnupg, written) == [ecc.fingerprint]
    assert written == (ecc.armored if armoured else ecc.binary)


def test_a_marker_packet_is_skipped_as_gpg_skips_it(gnupg, two_keys):
    rsa = two_keys[0]
    data = old_header(10, 3, 1) + b'PGP' + rsa.binary
    assert _openpgp.fingerprints(data) == gpg_fingerprints(gnupg, data) == [rsa.fingerprint]
    assert _openpgp.keyring(_openpgp.read_keys(data), armoured=False) == rsa.binary


def test_partial_lengths_frame_a_data_packet():
    # A compressed data packet (tag 8) in two chunks: 512 bytes, then 10 more.
    body = bytes(range(256)) * 2 + b'0123456789'
    packet = bytes([0xC8, 224 + 9]) + body[:512] + bytes([10]) + body[512:]
    assert [(tag, content) for tag, dummy, content in _openpgp._packets(packet + old_header(10, 3, 1) + b'PGP')] == [
        (8, body), (10, b'PGP')]


def test_an_indeterminate_length_runs_to_the_end():
    literal = bytes([0x80 | (11 << 2) | 3]) + b'b\x00\x00\x00\x00\x00text'
    assert [(tag, content) for tag, dummy, content in _openpgp._packets(literal)] == [(11, literal[1:])]


@pytest.mark.parametrize('prefix, message', [
    # A data packet in a key file: gpg would open a compressed one; nothing here hides a key from the check.
    (bytes([0xC8, 224 + 9]) + bytes(512) + bytes([1, 0]), 'compressed data packet'),
    (bytes([0x80 | (11 << 2) | 3]) + b'b\x00\x00\x00\x00\x00', 'literal data packet'),
    (bytes([0xCD, 4]) + b'user', 'user id packet .* before any public key'),
    (bytes([0xC6, 224 + 9]) + bytes(512) + bytes([0]), 'public key packet .* partial body length'),
    (bytes([0x80 | (6 << 2) | 3]) + b'\x04', 'public key packet .* indeterminate length'),
    (bytes([0xC6, 2, 3, 0]), 'version 3 public key'),
    (bytes([0xC6, 255, 0, 0]), 'ends inside a packet header'),
    (bytes([0xC6, 50, 4]), 'ends inside a packet'),
    (b'\x00', 'neither a binary OpenPGP file nor ASCII-armoured'),
    (b'', 'empty'),
])
def test_what_a_key_file_cannot_hold_is_refused(prefix, message):
    with pytest.raises(ValueError, match=message):
        _openpgp.read_keys(prefix)


def test_a_secret_key_is_refused(gnupg, two_keys):
    with pytest.raises(ValueError, match='secret key'):
        _openpgp.read_keys(gnupg.run('--export-secret-keys', two_keys[0].fingerprint))


def test_a_damaged_armoured_block_is_refused(two_keys):
    armored = two_keys[0].armored.decode()
    lines = armored.splitlines()
    checksum = next(index for index, line in enumerate(lines) if line.startswith('='))
    lines[checksum] = '=AAAA' if lines[checksum] != '=AAAA' else '=BBBB'
    with pytest.raises(ValueError, match='checksum'):
        _openpgp.read_keys('\n'.join(lines))
    with pytest.raises(ValueError, match='no -----END PGP PUBLIC KEY BLOCK----- line'):
        _openpgp.read_keys(armored.split('-----END')[0])
