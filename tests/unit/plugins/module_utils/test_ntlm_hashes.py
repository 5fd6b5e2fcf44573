# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json
import pathlib

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._ntlm_hashes import (
    cntlm_hashes,
    des_encrypt_block,
    des_key_from_7_bytes,
    format_hash,
    hashes_are_inverted,
    lm_hash,
    md4,
    nt_hash,
    ntlmv2_hash,
    password_is_cut,
)

VECTORS_FILE = pathlib.Path(__file__).parents[2] / "data" / "cntlm_vectors.json"
CNTLM_VECTORS = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))

# No control characters: cntlm reads the password from a terminal line.
cntlm_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=70)


# RFC 1320, appendix A.5.
@pytest.mark.parametrize("message, digest", [
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "043f8582f241db351ce627e153e7f0e4"),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
])
def test_md4_matches_rfc1320(message, digest):
    assert md4(message).hex() == digest


@pytest.mark.parametrize("length", [55, 56, 63, 64, 65, 119, 120])
def test_md4_padding_boundaries_give_distinct_16_byte_digests(length):
    digests = {md4(b"x" * size) for size in (length - 1, length, length + 1)}
    assert len(digests) == 3
    assert all(len(digest) == 16 for digest in digests)


@pytest.mark.parametrize("key, plaintext, ciphertext", [
    # The worked example of J. Orlin Grabbe, "The DES Algorithm Illustrated".
    ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),
    # NBS Special Publication 500-20 (variable plaintext, first entries).
    ("0101010101010101", "8000000000000000", "95F8A5E5DD31D900"),
    ("0101010101010101", "4000000000000000", "DD7F121CA5015619"),
])
def test_des_known_answers(key, plaintext, ciphertext):
    assert des_encrypt_block(bytes.fromhex(key), bytes.fromhex(plaintext)).hex().upper() == ciphertext


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=8, max_size=8), block=st.binary(min_size=8, max_size=8))
def test_des_complementation_property(key, block):
    def complement(data):
        return bytes(byte ^ 0xFF for byte in data)

    assert des_encrypt_block(complement(key), complement(block)) == complement(des_encrypt_block(key, block))


def test_des_rejects_wrong_sizes():
    with pytest.raises(ValueError, match="8-byte key and an 8-byte block, got 7 and 8"):
        des_encrypt_block(b"1234567", b"12345678")


def test_des_key_spreads_seven_bits_per_byte():
    assert des_key_from_7_bytes(b"\xff" * 7) == b"\xfe" * 8
    assert des_key_from_7_bytes(b"\x80\x00\x00\x00\x00\x00\x01") == b"\x80\x00\x00\x00\x00\x00\x00\x02"


def test_well_known_lm_and_nt_hashes():
    assert lm_hash(b"").hex().upper() == "AAD3B435B51404EEAAD3B435B51404EE"
    assert lm_hash(b"password").hex().upper() == "E52CAC67419A9A224A3B108F3FA6CB6D"
    assert nt_hash(b"password").hex().upper() == "8846F7EAEE8FB117AD06BDD830B7586C"


@pytest.mark.parametrize("vector", CNTLM_VECTORS["vectors"], ids=lambda vector: vector["username"][:16])
def test_matches_real_cntlm_output(vector):
    assert cntlm_hashes(vector["password"], vector["username"], vector["domain"],
                        CNTLM_VECTORS["cntlm_version"]) == {
        "PassLM": vector["PassLM"], "PassNT": vector["PassNT"], "PassNTLMv2": vector["PassNTLMv2"]}


def test_vectors_cover_the_hard_cases():
    vectors = CNTLM_VECTORS["vectors"]
    assert CNTLM_VECTORS["cntlm_version"] == "0.92.3"
    assert len(vectors) >= 12
    assert any(vector["domain"] == "" for vector in vectors)
    assert any(len(vector["password"].encode()) > 49 for vector in vectors)
    assert any(any(0x80 <= ord(char) <= 0xFF for char in vector["password"]) for vector in vectors)
    assert any(any(ord(char) > 0xFF for char in vector["password"]) for vector in vectors)


def test_facts_vector_for_both_encodings():
    assert cntlm_hashes("password", "testuser", "corp-uk", "0.92.3")["PassNT"] == "77B9081511704EE852F94227CF48A793"
    assert cntlm_hashes("password", "testuser", "corp-uk", "0.94.0")["PassNT"] == "8846F7EAEE8FB117AD06BDD830B7586C"


@settings(max_examples=80, deadline=None)
@given(password=cntlm_text, username=cntlm_text, domain=cntlm_text)
def test_old_and_new_encodings_are_bytewise_complements(password, username, domain):
    inverted = cntlm_hashes(password, username, domain, "0.92.3")
    plain = cntlm_hashes(password, username, domain, "0.94.0")
    for name, value in plain.items():
        assert len(value) == 32 and value == value.upper()
        assert bytes(byte ^ 0xFF for byte in bytes.fromhex(value)) == bytes.fromhex(inverted[name])


@settings(max_examples=80, deadline=None)
@given(password=cntlm_text, extra=cntlm_text)
def test_only_the_first_49_password_bytes_count(password, extra):
    long_password = (password * 50 + extra)
    first_49 = long_password.encode("utf-8")[:49]
    hashes = cntlm_hashes(long_password, "user", "corp", "0.94.0")
    assert hashes["PassNT"] == format_hash(nt_hash(first_49), False)
    assert password_is_cut(long_password)


@settings(max_examples=80, deadline=None)
@given(username=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=20),
       domain=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-", max_size=20))
def test_ntlmv2_ignores_ascii_case_of_user_and_domain(username, domain):
    lower = cntlm_hashes("secret", username, domain)
    upper = cntlm_hashes("secret", username.upper(), domain.upper())
    assert lower == upper


def test_ntlmv2_keeps_non_ascii_case_as_cntlm_does():
    # cntlm upper-cases with C toupper() in the C locale: only ASCII letters change.
    assert ntlmv2_hash(b"pw", "m\u00fcller".encode(), b"") != ntlmv2_hash(b"pw", "M\u00dcLLER".encode(), b"")


def test_lm_hash_uses_14_upper_cased_bytes():
    assert lm_hash(b"abcdefghijklmnXYZ") == lm_hash(b"ABCDEFGHIJKLMN")


def test_domain_none_is_empty():
    assert cntlm_hashes("secret", "alice", None) == cntlm_hashes("secret", "alice", "")


@pytest.mark.parametrize("version, inverted", [
    ("0.92.3", True), ("0.92.3-1.2", True), ("0.35.1", True), ("0.93beta5", True),
    ("0.94beta1", True), (" 0.92.3 ", True),
    ("0.94.0", False), ("0.94", False), ("0.94.1", False), ("1.0.0", False), ("0.95rc1", False),
])
def test_version_decides_encoding(version, inverted):
    assert hashes_are_inverted(version) is inverted


@pytest.mark.parametrize("version", ["latest", "", "0.9x", "v0.92.3", "0.92.3 beta", "0..1"])
def test_malformed_version_is_named(version):
    with pytest.raises(ValueError, match="malformed cntlm version %r" % version):
        cntlm_hashes("secret", "alice", "corp", version)


def test_version_between_known_encodings_is_refused():
    with pytest.raises(ValueError, match="'0.94beta2' lies between 0.94beta1"):
        hashes_are_inverted("0.94beta2")


def test_numeric_version_is_refused_with_hint():
    with pytest.raises(ValueError, match="got float 0.94 .*quote it"):
        hashes_are_inverted(0.94)


@pytest.mark.parametrize("password, username, domain, message", [
    ("", "alice", "corp", "password must not be empty"),
    ("pw", "", "corp", "username must not be empty"),
    (1234, "alice", "corp", "password must be a string, got int"),
    ("pw", ["alice"], "corp", "username must be a string, got list"),
    ("pw", "alice", 7, "domain must be a string, got int"),
    ("s3cr3t\nline", "alice", "corp", "password contains a line break or NUL"),
    ("pw", "alice", "co\x00rp", "domain contains a line break or NUL"),
])
def test_bad_input_is_refused_without_echoing_the_password(password, username, domain, message):
    with pytest.raises(ValueError, match=message) as error:
        cntlm_hashes(password, username, domain)
    assert "s3cr3t" not in str(error.value)
    assert "1234" not in str(error.value)
