# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Masking of config.toml and JSON text for diffs, on the parsed document.

Every secret a document holds must be gone from its masked text, whatever
way the document writes it; everything else stays as it was.
"""

from __future__ import annotations

import json
import pathlib
import tomllib

import pytest
import tomlkit
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._json_document import SECRET_KEYS as JSON_SECRET_KEYS
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._json_document import (
    JsonDocumentError,
    JsonEdit,
    mask_json_text,
    mask_json_value,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import SECRET_KEYS as CONFIG_SECRET_KEYS
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    MASK,
    RunnerEdit,
    TomlDocumentError,
    find_runner,
    mask_config_text,
    mask_config_value,
)

AK = 'AKIAEXAMPLEACCESS'
SK = 'wJalrXUtnFEMI-K7MDENG-secret'
TOKEN = 'glrt-Runner-Token-0123'
PROXY_PASSWORD = 'Pr0xy-Pa55'
AUTH = 'dXNlcjpyZWdpc3RyeS1wYXNz'


def assert_hidden(masked, *secrets):
    for secret in secrets:
        assert secret not in masked, '%r shown in:\n%s' % (secret, masked)


# ------------------------------------------------------------ config.toml

@pytest.mark.parametrize('text', [
    # The tester's findings: an inline table, a multi-line string.
    '[[runners]]\n  [runners.cache]\n    s3 = { AccessKey = "%s", SecretKey = "%s" }\n' % (AK, SK),
    '[runners.cache.s3]\nAccessKey = "%s"\nSecretKey = """\n%s"""\n' % (AK, SK),
    # Literal and multi-line literal strings, a line continuation, escapes.
    "[s3]\nAccessKey = '%s'\nSecretKey = '''%s'''\n" % (AK, SK),
    '[s3]\nAccessKey = "%s"\nSecretKey = """%s\\\n   %s"""\n' % (AK, SK[:9], SK[9:]),
    '[s3]\nAccessKey = "%s\\u0041"\nSecretKey = "%s\\t"\n' % (AK, SK),
    # Dotted and quoted keys, on one line and in headers.
    'runners.cache.s3.AccessKey = "%s"\n"runners".cache."s3"."SecretKey" = \'%s\'\n' % (AK, SK),
    '[runners."cache".s3]\n"AccessKey" = "%s"\n\'SecretKey\' = "%s"\n' % (AK, SK),
    # Arrays of tables, arrays of inline tables.
    '[[runners]]\nname = "a"\n[[runners]]\nname = "b"\n[runners.cache.s3]\nAccessKey = "%s"\nSecretKey = "%s"\n' % (AK, SK),
    'x = [{ AccessKey = "%s" }, { nested = { SecretKey = "%s" } }]\n' % (AK, SK),
    # Several secrets on one line, then comments after them.
    's3 = {AccessKey="%s",SecretKey="%s"} # keys\n' % (AK, SK),
])
def test_config_secrets_are_masked_however_written(text):
    tomllib.loads(text)
    masked = mask_config_text(text)
    assert_hidden(masked, AK, SK, AK[4:12], SK[4:12])
    assert MASK in masked


def test_config_secret_kinds_are_all_masked():
    text = '''concurrent = 2
[[runners]]
  name = "a"
  url = "https://gitlab.example.com/"
  token = "%(token)s"
  environment = ["DOCKER_AUTH_CONFIG={\\"auths\\": {\\"r\\": {\\"auth\\": \\"%(auth)s\\"}}}", "KEEP=1"]
  [runners.kubernetes]
    bearer_token = "k8s-bearer-0000-secret"
  [runners.cache]
    [runners.cache.s3]
      SessionToken = "s3-session-0000-secret"
    [runners.cache.gcs]
      PrivateKey = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASC
-----END PRIVATE KEY-----"""
    [runners.cache.azure]
      AccountKey = "azure-account-key-secret"
  [runners.autoscaler.connector_config]
    password = "connector-password-secret"
  [runners.machine]
    MachineOptions = ["amazonec2-secret-key=machine-secret-000", "amazonec2-region=eu-west-1"]
''' % {'token': TOKEN, 'auth': AUTH}
    tomllib.loads(text)
    masked = mask_config_text(text)
    assert_hidden(masked, TOKEN, AUTH, 'k8s-bearer', 's3-session', 'MIIEvgIBADANBgkqhkiG9w0BAQEFAASC',
                  'azure-account', 'connector-password', 'machine-secret')
    # What is not a secret is still shown as it was.
    for shown in ('concurrent = 2', 'name = "a"', 'url = "https://gitlab.example.com/"', '"KEEP=1"',
                  '[runners.cache.gcs]', '"amazonec2-region=eu-west-1"'):
        assert shown in masked


def test_config_without_secrets_is_shown_unchanged():
    text = '''# comment with "quotes" and 'apostrophes'
concurrent = 1
[[runners]]
  name = "token"
  url = 'https://gitlab.example.com/'
  token_obtained_at = 2025-01-01T00:00:00Z
  description = """several
lines"""
  environment = ["A=1", 'B=2']
  [runners.docker]
    volumes = ["/cache"]
'''
    assert mask_config_text(text) == text


def test_config_secret_found_in_the_document_is_masked_elsewhere_too():
    text = ('# the old token was %s\n[[runners]]\n  token = "%s"\n  description = "runner %s"\n'
            '  environment = ["CI_TOKEN=%s", "HTTP_PROXY=http://u:%s@proxy:3128", "P=%s"]\n'
            % (TOKEN, TOKEN, TOKEN, TOKEN, PROXY_PASSWORD, PROXY_PASSWORD))
    masked = mask_config_text(text)
    assert_hidden(masked, TOKEN, PROXY_PASSWORD)
    assert 'http://u:%s@proxy:3128' % MASK in masked


def test_config_known_secrets_are_masked_wherever_they_appear():
    text = '[[runners]]\n  name = "a"\n  description = "uses Given-Secret-42"  # Given-Secret-42\n'
    masked = mask_config_text(text, known={'Given-Secret-42'})
    assert_hidden(masked, 'Given-Secret-42')
    assert 'name = "a"' in masked


@pytest.mark.parametrize('text', [
    # Broken files: the "before" side of a file the module refuses to edit.
    '[[runners]]\n  token = "%s"\n  url = "http://u:%s@h/"\n[runners\n' % (TOKEN, PROXY_PASSWORD),
    '[[runners]]\n  token = %s\n  oops\n' % TOKEN,
    '[s3]\nSecretKey = """\n%s\n"""\nbroken = \n' % SK,
    '[s3]\ns3 = { AccessKey = "%s", SecretKey = \'%s\' \n' % (AK, SK),
    '[[runners]]\ntoken = "%s"\ntoken = "%s"\n' % (TOKEN, SK),
])
def test_broken_config_is_still_masked(text):
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(text)
    masked = mask_config_text(text, known={PROXY_PASSWORD})
    assert_hidden(masked, TOKEN, SK, AK, PROXY_PASSWORD)


def test_config_value_masks_nested_and_environment_secrets():
    value = {'name': 'a', 'cache': {'s3': {'SecretKey': SK, 'BucketName': 'b'}},
             'environment': ['DOCKER_AUTH_CONFIG={"auths": {}}', 'KEEP=1']}
    assert mask_config_value(value) == {'name': 'a', 'cache': {'s3': {'SecretKey': MASK, 'BucketName': 'b'}},
                                        'environment': ['DOCKER_AUTH_CONFIG=%s' % MASK, 'KEEP=1']}


_marker = st.integers(0, 10 ** 6).map(lambda number: 'Secret%07dX' % number)
_secret_key = st.sampled_from(['token', 'SecretKey', 'AccessKey', 'PrivateKey', 'AccountKey', 'password',
                               'bearer_token', 'SessionToken'])
_plain_key = st.sampled_from(['name', 'url', 'BucketName', 'image', 'a.b', 'with space', 'ünï'])
_plain_value = st.one_of(st.integers(-5, 5), st.booleans(), st.text(alphabet='ab "\'\\\n\t#=é', max_size=6))


def _tables(secret_values):
    leaf = st.one_of(_plain_value, st.tuples(_secret_key, _marker))
    return st.recursive(
        st.dictionaries(_plain_key, leaf, max_size=3),
        lambda children: st.dictionaries(_plain_key, st.one_of(leaf, children, st.lists(children, min_size=1, max_size=2)),
                                         max_size=3),
        max_leaves=8,
    ).map(lambda tree: _place_secrets(tree, secret_values))


def _place_secrets(tree, found):
    """Turn each (secret key, marker) leaf into {secret key: marker} and note the marker."""
    if isinstance(tree, dict):
        return dict((key, _place_secrets(item, found)) for key, item in tree.items())
    if isinstance(tree, list):
        return [_place_secrets(item, found) for item in tree]
    if isinstance(tree, tuple):
        found.append(tree[1])
        return {tree[0]: tree[1]}
    return tree


def _tomlkit_document(data, inline):
    """data written by tomlkit: as tables, or with every table inline."""
    def convert(value):
        if isinstance(value, dict):
            table = tomlkit.inline_table() if inline else tomlkit.table()
            for key, item in value.items():
                table[key] = convert(item)
            return table
        if isinstance(value, list):
            array = tomlkit.array()
            array.extend(convert(item) for item in value)
            return array if inline or not all(isinstance(item, dict) for item in value) else _aot(value)
        return value

    def _aot(value):
        tables = tomlkit.aot()
        for item in value:
            tables.append(convert(item))
        return tables

    document = tomlkit.document()
    document['root'] = convert(data)
    return tomlkit.dumps(document)


def _reads_back(text, tree):
    try:
        return tomllib.loads(text)['root'] == tree
    except tomllib.TOMLDecodeError:
        return False


@settings(max_examples=150, deadline=None)
@given(data=st.data(), inline=st.booleans(), literal=st.booleans())
def test_no_secret_of_a_generated_config_survives(data, inline, literal):
    secrets = []
    tree = data.draw(_tables(secrets))
    text = _tomlkit_document(tree, inline)
    if not inline and not _reads_back(text, tree):
        # tomlkit 0.11 (Debian 12) writes some nested arrays of tables wrongly.
        text = _tomlkit_document(tree, True)
    if literal:
        for secret in secrets:
            text = text.replace('"%s"' % secret, "'''%s'''" % secret)
    assert tomllib.loads(text)['root'] == tree
    masked = mask_config_text(text)
    assert_hidden(masked, *secrets)
    if not secrets:
        assert masked == text


# ------------------------------------------------------------------ JSON

CLIENT = '''{
  "auths": {
    "registry.example.com": {
      "auth": "%s",
      "identitytoken": "identity-token-secret"
    },
    "other.example.com": {"username": "u", "password": "registry-password-secret"}
  },
  "proxies": {"default": {"httpProxy": "http://u:%s@proxy:3128", "noProxy": "localhost"}},
  "credHelpers": {"gcr.io": "gcloud"}
}
''' % (AUTH, PROXY_PASSWORD)


def test_json_secrets_are_masked_and_the_rest_shown():
    masked = mask_json_text(CLIENT)
    assert_hidden(masked, AUTH, 'identity-token-secret', 'registry-password-secret', PROXY_PASSWORD)
    assert '"auth": "%s"' % MASK in masked and 'http://u:%s@proxy:3128' % MASK in masked
    for shown in ('"username": "u"', '"credHelpers": {"gcr.io": "gcloud"}', '"noProxy": "localhost"'):
        assert shown in masked


@pytest.mark.parametrize('text', [
    '{"auths":{"r":{"auth":"%s"}}}' % AUTH,                                         # one line
    '{"auths": {"r": {"auth": "%s\\u0041", "Auth": "%s"}}}' % (AUTH, SK),           # escapes, key case
    '{"auths": {"r": {"auth": "%s", "auth": "%s"}}}' % (AUTH, SK),                  # duplicate key
    '{"auths": {"r": {"auth": {"nested": "%s"}}}, "x": ["%s"]}' % (AUTH, AUTH),     # under a secret key; elsewhere
    '{"registrytoken":\n"%s"\n, "password"\n:\n"%s"}' % (AUTH, SK),                 # key and value on other lines
])
def test_json_secrets_are_masked_however_written(text):
    json.loads(text)
    masked = mask_json_text(text)
    assert_hidden(masked, AUTH, SK)


@pytest.mark.parametrize('text', [
    '{"auths": {"r": {"auth": "%s"}}\n' % AUTH,
    '{"auths": {"r": {"auth": "%s" "password": "%s"}}}' % (AUTH, SK),
    '{"auths":{"r":{"auth":"%s"}},"proxies":{"default":{"httpProxy":"http://u:%s@p:1"}},}' % (AUTH, PROXY_PASSWORD),
    '{"auths": {"r": {"auth": %s}}}' % AUTH,
])
def test_broken_json_is_still_masked(text):
    with pytest.raises(ValueError):
        json.loads(text)
    assert_hidden(mask_json_text(text), AUTH, SK, PROXY_PASSWORD)


def test_json_without_secrets_is_shown_unchanged():
    text = '{\n  "proxies": {"default": {"httpProxy": "http://proxy:3128"}},\n  "debug": true, "x": "a\\"b"\n}\n'
    assert mask_json_text(text) == text


def test_json_value_masks_everything_under_a_secret_key():
    assert mask_json_value({'auths': {'r': {'auth': {'a': 'b'}, 'x': 'http://u:p@h'}}}) == {
        'auths': {'r': {'auth': {'a': MASK}, 'x': 'http://u:%s@h' % MASK}}}


_json_secret_key = st.sampled_from(['auth', 'password', 'identitytoken', 'registrytoken', 'Auth'])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), indent=st.sampled_from([None, 0, 2, '\t']), ascii_only=st.booleans())
def test_no_secret_of_a_generated_json_survives(data, indent, ascii_only):
    secrets = []
    leaf = st.one_of(_plain_value, st.none(), st.tuples(_json_secret_key, _marker))
    tree = data.draw(st.recursive(
        st.dictionaries(_plain_key, leaf, max_size=3),
        lambda children: st.dictionaries(_plain_key, st.one_of(leaf, children, st.lists(children, max_size=2)),
                                         max_size=3),
        max_leaves=8,
    ).map(lambda value: _place_secrets(value, secrets)))
    text = json.dumps(tree, indent=indent, ensure_ascii=ascii_only)
    masked = mask_json_text(text)
    assert_hidden(masked, *secrets)
    if not secrets:
        assert masked == text


# ------------------------------------------------------- error messages

def test_several_runners_error_masks_url_passwords():
    entries = [{'name': 'x', 'url': 'https://alice:%s@gitlab.example.com/' % PROXY_PASSWORD},
               {'name': 'x', 'url': 'https://bob:%s@other.example.com/' % SK}]
    with pytest.raises(TomlDocumentError) as error:
        find_runner(entries, 'x')
    message = str(error.value)
    assert_hidden(message, PROXY_PASSWORD, SK)
    assert 'alice:%s@gitlab.example.com' % MASK in message and '2 [[runners]] entries' in message


def test_several_runners_with_one_url_error_masks_its_password():
    entries = [{'name': 'x', 'url': 'https://alice:%s@gitlab.example.com/' % PROXY_PASSWORD}] * 2
    with pytest.raises(TomlDocumentError) as error:
        find_runner(entries, 'x', 'https://alice:%s@gitlab.example.com' % PROXY_PASSWORD)
    assert_hidden(str(error.value), PROXY_PASSWORD)


@pytest.mark.parametrize('edit', [
    RunnerEdit(name='a', url='https://u:%s@a/' % PROXY_PASSWORD, settings={'url': 'https://u:%s@b/' % SK}),
    RunnerEdit(name='a', environment={'HTTP_PROXY': ['http://u:%s@p/' % PROXY_PASSWORD]}),
    RunnerEdit(name='a', settings={'x': {'http://u:%s@p/' % PROXY_PASSWORD: object()}}),
])
def test_config_errors_mask_url_passwords(edit):
    with pytest.raises(TomlDocumentError) as error:
        edit.check()
    assert_hidden(str(error.value), PROXY_PASSWORD)


@pytest.mark.parametrize('edit', [
    JsonEdit(kind='http://u:%s@p/' % PROXY_PASSWORD),
    JsonEdit(remove=[['http://u:%s@p/' % PROXY_PASSWORD, '']]),
    JsonEdit(settings={'proxies': {'http://u:%s@p/' % PROXY_PASSWORD: float('nan')}}),
])
def test_json_errors_mask_url_passwords(edit):
    with pytest.raises(JsonDocumentError) as error:
        edit.check()
    assert_hidden(str(error.value), PROXY_PASSWORD)


# ------------------------------------------------------------- corpora

DATA = pathlib.Path(__file__).parents[2] / 'data'


@pytest.mark.parametrize('path', sorted((DATA / 'toml-test' / 'valid').rglob('*.toml')), ids=str)
def test_toml_test_suite_documents_without_secrets_are_shown_unchanged(path):
    """Every literal of each valid document is found and read back as tomllib reads it."""
    text = path.read_bytes().decode('utf-8')
    masked = mask_config_text(text)
    if secret_values(tomllib.loads(text.lstrip('\ufeff')), CONFIG_SECRET_KEYS):
        assert MASK in masked
    else:
        assert masked == text


@pytest.mark.parametrize('path', sorted((DATA / 'config_toml').glob('*.toml')) + sorted((DATA / 'docker_json').glob('*.json')),
                         ids=lambda path: path.name)
def test_corpus_secrets_are_masked(path):
    text = path.read_text(encoding='utf-8')
    if path.suffix == '.json':
        secrets = secret_values(json.loads(text or '{}'), JSON_SECRET_KEYS)
        masked = mask_json_text(text)
    else:
        secrets = secret_values(tomllib.loads(text), CONFIG_SECRET_KEYS)
        masked = mask_config_text(text)
    assert_hidden(masked, *secrets)
    if not secrets:
        assert masked == text
