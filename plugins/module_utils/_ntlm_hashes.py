# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The password hashes cntlm keeps in its configuration, computed like ``cntlm -H``.

cntlm stores ``PassLM``, ``PassNT`` and ``PassNTLMv2`` instead of the
password. Computing them here means the clear password never has to reach
the managed host. The results must equal what the installed cntlm prints,
quirks included:

* the password is read like ``cntlm -H`` reads it: at most 49 bytes; user
  name and domain are cut the same way (cntlm keeps each in a 50-byte buffer),
  and for NTLMv2 their concatenation is cut again to 64 bytes;
* strings become bytes as UTF-8, and cntlm widens each *byte* to 16 bits
  (true UTF-16LE only for ASCII);
* upper-casing (LM password, user name + domain for NTLMv2) is C ``toupper``
  in the C locale: ASCII letters only;
* up to and including 0.94beta1 cntlm prints (and parses) every hash byte
  XOR 0xFF; 0.94.0 and newer print plain hex.

MD4 and DES are implemented here because OpenSSL 3 moved both to its legacy
provider, which Python's hashlib often cannot reach.
"""

from __future__ import annotations

import hmac
import re
import struct

CNTLM_INPUT_LIMIT = 49
"""Bytes of a password, user name or domain that cntlm keeps (50-byte buffer with NUL)."""

NTLMV2_IDENTITY_LIMIT = 64
"""Bytes of user name + domain that cntlm 0.92.3 hashes for NTLMv2 (found with cntlm -H, see the test vectors)."""

LM_PASSWORD_LIMIT = 14
LM_MAGIC = b"KGS!@#$%"

_MASK32 = 0xFFFFFFFF


# MD4 (RFC 1320) -----------------------------------------------------------

_MD4_ROUND2_ORDER = (0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
_MD4_ROUND3_ORDER = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)


def _rotate_left(value: int, bits: int) -> int:
    value &= _MASK32
    return ((value << bits) | (value >> (32 - bits))) & _MASK32


def _md4_compress(state: tuple[int, int, int, int], block: bytes) -> tuple[int, int, int, int]:
    words = struct.unpack("<16I", block)
    a, b, c, d = state
    for index in range(16):
        shift = (3, 7, 11, 19)[index % 4]
        a = _rotate_left(a + ((b & c) | (~b & d)) + words[index], shift)
        a, b, c, d = d, a, b, c
    for index, word in enumerate(_MD4_ROUND2_ORDER):
        shift = (3, 5, 9, 13)[index % 4]
        a = _rotate_left(a + ((b & c) | (b & d) | (c & d)) + words[word] + 0x5A827999, shift)
        a, b, c, d = d, a, b, c
    for index, word in enumerate(_MD4_ROUND3_ORDER):
        shift = (3, 9, 11, 15)[index % 4]
        a = _rotate_left(a + (b ^ c ^ d) + words[word] + 0x6ED9EBA1, shift)
        a, b, c, d = d, a, b, c
    return tuple((old + new) & _MASK32 for old, new in zip(state, (a, b, c, d)))


def md4(message: bytes) -> bytes:
    """The MD4 digest of ``message`` (16 bytes)."""
    padding = b"\x80" + b"\x00" * ((55 - len(message)) % 64)
    padded = message + padding + struct.pack("<Q", (len(message) * 8) & 0xFFFFFFFFFFFFFFFF)
    state = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
    for offset in range(0, len(padded), 64):
        state = _md4_compress(state, padded[offset:offset + 64])
    return struct.pack("<4I", *state)


# DES (FIPS 46-3), encryption of single blocks only -------------------------

_INITIAL_PERMUTATION = (
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
)
_FINAL_PERMUTATION = tuple(
    _INITIAL_PERMUTATION.index(position) + 1 for position in range(1, 65)
)
_EXPANSION = (
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13,
    12, 13, 14, 15, 16, 17, 16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25,
    24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
)
_ROUND_PERMUTATION = (
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
)
_KEY_CHOICE_1 = (
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
)
_KEY_CHOICE_2 = (
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
)
_KEY_SHIFTS = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)
_S_BOXES = (
    (14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
     0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
     4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
     15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13),
    (15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
     3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
     0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
     13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9),
    (10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
     13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
     13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
     1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12),
    (7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
     13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
     10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
     3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14),
    (2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
     14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
     4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
     11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3),
    (12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
     10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
     9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
     4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13),
    (4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
     13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
     1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
     6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12),
    (13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
     1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
     7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
     2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11),
)


def _permute(value: int, table: tuple[int, ...], width: int) -> int:
    """Bit ``i`` of the result (counted from the left, 1-based as in FIPS 46) is bit ``table[i]`` of ``value``."""
    result = 0
    for position in table:
        result = (result << 1) | ((value >> (width - position)) & 1)
    return result


def _des_round_keys(key: bytes) -> list[int]:
    chosen = _permute(int.from_bytes(key, "big"), _KEY_CHOICE_1, 64)
    left, right = chosen >> 28, chosen & 0xFFFFFFF
    round_keys = []
    for shift in _KEY_SHIFTS:
        left = ((left << shift) | (left >> (28 - shift))) & 0xFFFFFFF
        right = ((right << shift) | (right >> (28 - shift))) & 0xFFFFFFF
        round_keys.append(_permute((left << 28) | right, _KEY_CHOICE_2, 56))
    return round_keys


def _des_feistel(half: int, round_key: int) -> int:
    mixed = _permute(half, _EXPANSION, 32) ^ round_key
    substituted = 0
    for box_index, box in enumerate(_S_BOXES):
        chunk = (mixed >> (42 - 6 * box_index)) & 0x3F
        row = ((chunk >> 4) & 0b10) | (chunk & 1)
        column = (chunk >> 1) & 0xF
        substituted = (substituted << 4) | box[row * 16 + column]
    return _permute(substituted, _ROUND_PERMUTATION, 32)


def des_encrypt_block(key: bytes, block: bytes) -> bytes:
    """DES-encrypt one 8-byte ``block`` with an 8-byte ``key`` (parity bits ignored)."""
    if len(key) != 8 or len(block) != 8:
        raise ValueError("DES needs an 8-byte key and an 8-byte block, got %d and %d bytes"
                         % (len(key), len(block)))
    state = _permute(int.from_bytes(block, "big"), _INITIAL_PERMUTATION, 64)
    left, right = state >> 32, state & _MASK32
    for round_key in _des_round_keys(key):
        left, right = right, left ^ _des_feistel(right, round_key)
    return _permute((right << 32) | left, _FINAL_PERMUTATION, 64).to_bytes(8, "big")


def des_key_from_7_bytes(key56: bytes) -> bytes:
    """Spread 56 key bits over 8 bytes, seven per byte (the low parity bit left 0)."""
    bits = int.from_bytes(key56, "big")
    return bytes(((bits >> (49 - 7 * index)) & 0x7F) << 1 for index in range(8))


# The hashes -----------------------------------------------------------------

def _ascii_upper(data: bytes) -> bytes:
    """C ``toupper`` in the C locale: a-z only, every other byte unchanged."""
    return data.translate(bytes.maketrans(b"abcdefghijklmnopqrstuvwxyz", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _widen(data: bytes) -> bytes:
    """cntlm's unicode(): every byte becomes a little-endian 16-bit unit."""
    return b"".join(bytes((byte, 0)) for byte in data)


def lm_hash(password: bytes) -> bytes:
    """The LM hash: DES of the magic string under the upper-cased, zero-padded first 14 bytes."""
    key_material = _ascii_upper(password[:LM_PASSWORD_LIMIT]).ljust(LM_PASSWORD_LIMIT, b"\x00")
    return b"".join(des_encrypt_block(des_key_from_7_bytes(key_material[start:start + 7]), LM_MAGIC)
                    for start in (0, 7))


def nt_hash(password: bytes) -> bytes:
    """The NT hash: MD4 of the byte-wise widened password."""
    return md4(_widen(password))


def ntlmv2_hash(password: bytes, username: bytes, domain: bytes) -> bytes:
    """The NTLMv2 hash: HMAC-MD5 keyed with the NT hash over widened UPPER(username + domain).

    cntlm joins user name and domain in a buffer that keeps only 64 bytes.
    """
    identity = (username + domain)[:NTLMV2_IDENTITY_LIMIT]
    return hmac.new(nt_hash(password), _widen(_ascii_upper(identity)), "md5").digest()


# cntlm versions and their hash encoding --------------------------------------

_VERSION_PATTERN = re.compile(
    r"^(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?"
    r"(?:(?P<stage>alpha|beta|rc)(?P<stage_number>\d+))?"
    r"(?:-[0-9A-Za-z.+~]+)?$"
)
_STAGE_RANK = {"alpha": 0, "beta": 1, "rc": 2, None: 3}
_LAST_INVERTED = (0, 94, 0, _STAGE_RANK["beta"], 1)
_FIRST_PLAIN = (0, 94, 0, _STAGE_RANK[None], 0)


def _version_key(version: str) -> tuple[int, int, int, int, int]:
    if not isinstance(version, str):
        raise ValueError(
            "cntlm version must be a string such as '0.92.3' or '0.94.0', got %s %r "
            "(quote it in YAML: 0.94 as a number loses its meaning)" % (type(version).__name__, version))
    match = _VERSION_PATTERN.match(version.strip())
    if not match:
        raise ValueError(
            "malformed cntlm version %r: expected MAJOR.MINOR[.PATCH][betaN] with an optional "
            "Debian revision, such as '0.92.3', '0.94beta1', '0.94.0' or '0.92.3-1.2'" % version)
    return (int(match["major"]), int(match["minor"]), int(match["patch"] or 0),
            _STAGE_RANK[match["stage"]], int(match["stage_number"] or 0))


def hashes_are_inverted(version: str) -> bool:
    """Whether this cntlm version prints hash bytes XOR 0xFF (up to 0.94beta1) or plain (0.94.0 on)."""
    key = _version_key(version)
    if key <= _LAST_INVERTED:
        return True
    if key >= _FIRST_PLAIN:
        return False
    raise ValueError(
        "cntlm version %r lies between 0.94beta1 (hashes printed XOR 0xFF) and 0.94.0 "
        "(plain hex); its hash encoding is not known, give the exact released version" % version)


def format_hash(digest: bytes, inverted: bool) -> str:
    """Upper-case hex as cntlm prints it, every byte XOR 0xFF when ``inverted``."""
    if inverted:
        digest = bytes(byte ^ 0xFF for byte in digest)
    return digest.hex().upper()


def _cntlm_input(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError("%s must be a string, got %s" % (what, type(value).__name__))
    if any(character in value for character in "\r\n\x00"):
        raise ValueError("%s contains a line break or NUL character, which cntlm cannot read" % what)
    return value.encode("utf-8")[:CNTLM_INPUT_LIMIT]


def password_is_cut(password: str) -> bool:
    """Whether cntlm -H would use only the first 49 bytes of this password."""
    return len(password.encode("utf-8")) > CNTLM_INPUT_LIMIT


def cntlm_hashes(password: str, username: str, domain: str | None = "", version: str = "0.92.3") -> dict[str, str]:
    """``{"PassLM", "PassNT", "PassNTLMv2"}`` exactly as ``cntlm -H`` of that version prints them.

    Error messages never contain the password.
    """
    inverted = hashes_are_inverted(version)
    password_bytes = _cntlm_input(password, "password")
    if not password_bytes:
        raise ValueError("password must not be empty")
    username_bytes = _cntlm_input(username, "username")
    if not username_bytes:
        raise ValueError("username must not be empty: PassNTLMv2 is bound to it")
    domain_bytes = _cntlm_input("" if domain is None else domain, "domain")
    return {
        "PassLM": format_hash(lm_hash(password_bytes), inverted),
        "PassNT": format_hash(nt_hash(password_bytes), inverted),
        "PassNTLMv2": format_hash(ntlmv2_hash(password_bytes, username_bytes, domain_bytes), inverted),
    }
