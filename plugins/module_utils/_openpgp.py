# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fingerprints of the keys in an OpenPGP key file (RFC 4880 version 4 keys).

SHA-1 over the public key packet, computed from the key's bytes, so that
neither the controller nor a managed host needs gpg to decide whether a
repository's signing key is one the user accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

# Packet tags of a primary key and of a subkey.
_PUBLIC_KEY_TAGS = (6, 14)


def _dearmor(text):
    """The bytes of an ASCII-armoured block (headers and checksum dropped), or the input as bytes."""
    if isinstance(text, bytes):
        if not text.lstrip().startswith(b'-----BEGIN PGP'):
            return text
        text = text.decode('ascii', 'replace')
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith('-----BEGIN PGP'):
        raise ValueError('not an ASCII-armoured OpenPGP block (no -----BEGIN PGP line)')
    body = []
    in_headers = True
    for line in lines[1:]:
        line = line.strip()
        if line.startswith('-----END PGP'):
            break
        if in_headers:
            # Armour headers (Version: ..., Comment: ...) end at an empty line.
            if not line:
                in_headers = False
            elif ':' not in line:
                in_headers = False
                body.append(line)
            continue
        if line.startswith('='):
            break
        body.append(line)
    try:
        return base64.b64decode(''.join(body), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError('the armoured block is not valid base64: %s' % error) from None


def _packets(data):
    """(tag, body) of each OpenPGP packet, old and new header formats."""
    position = 0
    while position < len(data):
        header = data[position]
        if not header & 0x80:
            raise ValueError('byte %d is not an OpenPGP packet header' % position)
        if header & 0x40:
            tag = header & 0x3f
            first = data[position + 1]
            if first < 192:
                length, position = first, position + 2
            elif first < 224:
                length, position = ((first - 192) << 8) + data[position + 2] + 192, position + 3
            elif first == 255:
                length, position = int.from_bytes(data[position + 2:position + 6], 'big'), position + 6
            else:
                raise ValueError('partial body lengths are not used in key files')
        else:
            tag = (header >> 2) & 0x0f
            size = {0: 1, 1: 2, 2: 4}.get(header & 0x03)
            if size is None:
                raise ValueError('indeterminate packet lengths are not used in key files')
            length = int.from_bytes(data[position + 1:position + 1 + size], 'big')
            position += 1 + size
        body = data[position:position + length]
        if len(body) != length:
            raise ValueError('the key data ends inside a packet')
        yield tag, body
        position += length


def fingerprints(key, subkeys=False):
    """Upper-case hex fingerprints of the primary keys (and subkeys) in ``key`` (text or bytes); ValueError if none."""
    found = []
    try:
        for tag, body in _packets(_dearmor(key)):
            if tag not in _PUBLIC_KEY_TAGS or (tag == 14 and not subkeys):
                continue
            if not body or body[0] != 4:
                raise ValueError('a version %d key: only version 4 keys are supported' % (body[0] if body else 0))
            found.append(hashlib.sha1(b'\x99' + len(body).to_bytes(2, 'big') + body).hexdigest().upper())
    except IndexError:
        raise ValueError('the key data ends inside a packet header') from None
    if not found:
        raise ValueError('the data holds no public key')
    return found
