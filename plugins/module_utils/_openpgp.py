# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The keys in an OpenPGP key file (RFC 4880 version 4 keys), and a keyring of some of them.

Fingerprints are SHA-1 over the public key packet, computed from the key's
bytes, so that neither the controller nor a managed host needs gpg to
decide whether a repository's signing key is one the user accepts.

A file is read as apt and gpg read it: binary, or every ASCII-armoured block
in it (a file may hold several, one after another), every packet of each,
in the old and the new header formats. A key is its public key packet with
the user ids, subkeys and signatures that follow it, up to the next key.
keyring() writes chosen keys back, so that a keyring holds the keys a user
accepted and nothing else that came in the same file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import namedtuple

# A key read from a file: its fingerprint, the fingerprints of its subkeys,
# and its packets (header and body, as they came) in order.
Key = namedtuple('Key', 'fingerprint subkey_fingerprints packets')

PUBLIC_KEY, PUBLIC_SUBKEY = 6, 14
_PACKET_NAMES = {
    1: 'public-key encrypted session key', 2: 'signature', 3: 'symmetric-key encrypted session key',
    4: 'one-pass signature', 5: 'secret key', 6: 'public key', 7: 'secret subkey', 8: 'compressed data',
    9: 'symmetrically encrypted data', 10: 'marker', 11: 'literal data', 12: 'trust', 13: 'user id',
    14: 'public subkey', 17: 'user attribute', 18: 'integrity protected encrypted data',
    19: 'modification detection code', 20: 'AEAD encrypted data', 21: 'padding',
}
# What follows a key and belongs to it.
_KEY_PARTS = frozenset((2, 13, PUBLIC_SUBKEY, 17))
# What gpg skips when it imports keys: a marker, local trust, padding.
_SKIPPED = frozenset((10, 12, 21))
# Only data packets may have a partial or an indeterminate length (RFC 4880 4.2.2.4, 4.2.1).
_DATA_PACKETS = frozenset((8, 9, 11, 18, 20))

_ARMOUR_BEGIN = re.compile(r'-----BEGIN PGP (?P<label>[A-Z0-9 ,/]+)-----\s*')
_ARMOUR_LINE_LENGTH = 64


def _packet_name(tag):
    return '%s packet (tag %d)' % (_PACKET_NAMES.get(tag, 'unknown'), tag)


def _crc24(data):
    """The armour checksum (RFC 4880 6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for dummy in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _armoured_block(lines, label):
    """The bytes of one armoured block whose BEGIN line has been read; ``lines`` goes on after its END line."""
    body = []
    checksum = None
    in_headers = True
    for line in lines:
        line = line.strip()
        if line == '-----END PGP %s-----' % label:
            break
        if line.startswith('-----'):
            raise ValueError('the armoured %s block ends with %r, not its own END line' % (label, line[:40]))
        if in_headers:
            # Armour headers (Version: ..., Comment: ...) end at an empty line.
            if not line:
                in_headers = False
                continue
            if ':' in line:
                continue
            in_headers = False
        if line.startswith('='):
            checksum = line[1:]
        elif line:
            body.append(line)
    else:
        raise ValueError('the armoured %s block has no -----END PGP %s----- line' % (label, label))
    try:
        data = base64.b64decode(''.join(body), validate=True)
        expected = base64.b64decode(checksum, validate=True) if checksum is not None else None
    except (binascii.Error, ValueError) as error:
        raise ValueError('the armoured %s block is not valid base64: %s' % (label, error)) from None
    if expected is not None and expected != _crc24(data).to_bytes(3, 'big'):
        raise ValueError('the armoured %s block fails its checksum (=%s): it is damaged' % (label, checksum))
    return data


def _dearmor(text):
    """The bytes of every armoured block in ``text``, one item per block, in order."""
    lines = iter(text.splitlines())
    blocks = []
    for line in lines:
        begin = _ARMOUR_BEGIN.fullmatch(line.strip())
        if begin:
            blocks.append(_armoured_block(lines, begin.group('label')))
    if not blocks:
        raise ValueError('neither a binary OpenPGP file nor ASCII-armoured (no -----BEGIN PGP line)')
    return blocks


def _streams(key):
    """The packet streams of a key file given as text or bytes: the file itself if binary, else each armoured block."""
    if isinstance(key, bytes):
        if not key:
            raise ValueError('the key file is empty')
        # Every binary OpenPGP packet starts with a byte whose top bit is set; armour is ASCII text.
        if key[0] & 0x80:
            return [key]
        key = key.decode('ascii', 'replace')
    return _dearmor(key)


def _body_length(data, position):
    """(length, position of the body, whether more chunks follow) of a new-format length at ``position``."""
    first = data[position]
    if first < 192:
        return first, position + 1, False
    if first < 224:
        return ((first - 192) << 8) + data[position + 1] + 192, position + 2, False
    if first == 255:
        if position + 5 > len(data):
            raise IndexError(position)
        return int.from_bytes(data[position + 1:position + 5], 'big'), position + 5, False
    return 1 << (first & 0x1f), position + 1, True


def _take(data, position, length):
    body = data[position:position + length]
    if len(body) != length:
        raise ValueError('the key data ends inside a packet')
    return body


def _packets(data):
    """(tag, packet bytes, body) of each OpenPGP packet in ``data``, old and new header formats."""
    position = 0
    while position < len(data):
        start = position
        header = data[position]
        if not header & 0x80:
            raise ValueError('byte %d is not an OpenPGP packet header' % position)
        if header & 0x40:
            tag = header & 0x3f
            length, position, partial = _body_length(data, position + 1)
            chunks = []
            while partial:
                if tag not in _DATA_PACKETS:
                    raise ValueError('a %s has a partial body length, which only data packets may have'
                                     % _packet_name(tag))
                chunks.append(_take(data, position, length))
                length, position, partial = _body_length(data, position + length)
            chunks.append(_take(data, position, length))
            body = b''.join(chunks)
        else:
            tag = (header >> 2) & 0x0f
            size = {0: 1, 1: 2, 2: 4}.get(header & 0x03)
            if size is None:
                if tag not in _DATA_PACKETS:
                    raise ValueError('a %s has an indeterminate length, which only data packets may have'
                                     % _packet_name(tag))
                # It runs to the end of the data.
                length, position = len(data) - position - 1, position + 1
            else:
                if position + 1 + size > len(data):
                    raise IndexError(position)
                length = int.from_bytes(data[position + 1:position + 1 + size], 'big')
                position += 1 + size
            body = _take(data, position, length)
        position += length
        yield tag, data[start:position], body


def _fingerprint(tag, body):
    if not body or body[0] != 4:
        raise ValueError('a version %d %s: only version 4 keys are supported'
                         % (body[0] if body else 0, _PACKET_NAMES[tag]))
    return hashlib.sha1(b'\x99' + len(body).to_bytes(2, 'big') + body).hexdigest().upper()


def read_keys(key):
    """The keys (Key tuples) in a key file given as text or bytes, in order; ValueError if it holds none.

    Every block of an armoured file is read. A secret key, a data packet, or
    a user id or signature before any key in its block is refused: a
    repository's key file holds public keys only.
    """
    keys = []
    try:
        for stream in _streams(key):
            current = None
            for tag, packet, body in _packets(stream):
                if tag == PUBLIC_KEY:
                    current = Key(_fingerprint(tag, body), [], [packet])
                    keys.append(current)
                elif tag in _KEY_PARTS:
                    if current is None:
                        raise ValueError('a %s comes before any public key' % _packet_name(tag))
                    if tag == PUBLIC_SUBKEY:
                        current.subkey_fingerprints.append(_fingerprint(tag, body))
                    current.packets.append(packet)
                elif tag in (5, 7):
                    raise ValueError('the file holds a secret key (%s); a repository serves public keys only'
                                     % _packet_name(tag))
                elif tag not in _SKIPPED:
                    raise ValueError('a %s: a key file holds public keys, user ids and signatures only'
                                     % _packet_name(tag))
    except IndexError:
        raise ValueError('the key data ends inside a packet header') from None
    if not keys:
        raise ValueError('the data holds no public key')
    return keys


def fingerprints(key, subkeys=False):
    """Upper-case hex fingerprints of the primary keys (and subkeys) in ``key`` (text or bytes), each once, in order."""
    found = []
    for each in read_keys(key):
        found.append(each.fingerprint)
        if subkeys:
            found.extend(each.subkey_fingerprints)
    return list(dict.fromkeys(found))


def keyring(keys, armoured):
    """A keyring file holding ``keys`` (Key tuples) and nothing else: binary, or ASCII-armoured (for a .asc file)."""
    data = b''.join(packet for key in keys for packet in key.packets)
    if not armoured:
        return data
    encoded = base64.b64encode(data).decode('ascii')
    lines = [encoded[start:start + _ARMOUR_LINE_LENGTH] for start in range(0, len(encoded), _ARMOUR_LINE_LENGTH)]
    checksum = base64.b64encode(_crc24(data).to_bytes(3, 'big')).decode('ascii')
    return ('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n%s\n=%s\n-----END PGP PUBLIC KEY BLOCK-----\n'
            % ('\n'.join(lines), checksum)).encode('ascii')
