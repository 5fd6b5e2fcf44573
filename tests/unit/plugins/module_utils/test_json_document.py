# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._json_document import (
    MASK,
    JsonDocumentError,
    JsonEdit,
    changed_top_level_keys,
    daemon_action,
    default_kind,
    default_mode,
    edit_json_text,
    json_transform,
    load_json,
    mask_json_text,
    mask_json_value,
    merge_settings,
    remove_paths,
    same_json,
    union,
)


def test_kind_and_mode_defaults():
    assert default_kind('/etc/docker/daemon.json') == 'daemon'
    assert default_kind('/root/.docker/config.json') == 'client'
    assert default_kind('/tmp/daemon.json.bak') == 'client'
    assert default_mode('client') == '0600' and default_mode('daemon') == '0644'


def test_deep_merge_keeps_unrelated_keys_and_order():
    before = {'auths': {'r': {'auth': 'x'}}, 'proxies': {'default': {'httpProxy': 'a', 'noProxy': 'n'}}, 'z': 1}
    after = merge_settings(before, {'proxies': {'default': {'httpProxy': 'b', 'ftpProxy': None}}, 'new': [1]})
    assert after == {'auths': {'r': {'auth': 'x'}}, 'proxies': {'default': {'httpProxy': 'b', 'noProxy': 'n'}},
                     'z': 1, 'new': [1]}
    assert list(after) == ['auths', 'proxies', 'z', 'new']
    assert before['proxies']['default']['httpProxy'] == 'a'


def test_null_removes_and_lists_replace_or_union():
    before = {'registry-mirrors': ['http://a', 'http://b'], 'debug': True}
    assert merge_settings(before, {'registry-mirrors': ['http://c', 'http://a'], 'debug': None}) == {
        'registry-mirrors': ['http://c', 'http://a']}
    assert merge_settings(before, {'registry-mirrors': ['http://c', 'http://a']}, 'union') == {
        'registry-mirrors': ['http://a', 'http://b', 'http://c'], 'debug': True}
    assert union([1, True], [1.0, 1, True, {'a': 1}, {'a': 1}]) == [1, True, 1.0, {'a': 1}]


def test_remove_paths_dotted_and_lists():
    document = {'auths': {'registry.example.com': {'auth': 'x'}, 'other': {}}, 'proxies': {'default': {'ftpProxy': 'f'}}}
    assert remove_paths(document, ['proxies.default.ftpProxy', ['auths', 'registry.example.com'], 'missing.key',
                                   'auths.other.deeper']) == {'auths': {'other': {}}, 'proxies': {'default': {}}}


@pytest.mark.parametrize('path', ['', 'a..b', ['a', ''], 5, ['a', 3]])
def test_bad_remove_entries_are_refused(path):
    with pytest.raises(JsonDocumentError, match='remove entr'):
        JsonEdit(remove=[path]).check()


@pytest.mark.parametrize('edit, message', [
    (JsonEdit(kind='server'), 'kind must be daemon or client'),
    (JsonEdit(indent=-1), 'indent must be'),
    (JsonEdit(indent=True), 'indent must be'),
    (JsonEdit(settings={'a': float('nan')}), r'settings.a: nan is not a JSON number'),
    (JsonEdit(settings={'a': [object()]}), r'settings.a\[0\]: .* is not a JSON value'),
])
def test_bad_edits_are_refused(edit, message):
    with pytest.raises(JsonDocumentError, match=message):
        edit.check()


def test_list_merge_value_is_checked():
    with pytest.raises(JsonDocumentError, match="list_merge must be replace or union, got 'append'"):
        merge_settings({}, {}, 'append')


@pytest.mark.parametrize('text, position', [
    ('{"a": 1,}', 'line 1, column 9'),
    ('{\n  "a": 1\n  "b": 2\n}', 'line 3, column 3'),
    ('{"a": tru}', 'line 1, column 7'),
])
def test_invalid_json_reports_line_and_column(text, position):
    with pytest.raises(JsonDocumentError, match='not valid JSON: .* at %s' % position):
        load_json(text)


def test_non_object_and_empty_files():
    with pytest.raises(JsonDocumentError, match='must hold a JSON object, found list'):
        load_json('[1, 2]')
    assert load_json('') == {} and load_json(' \n') == {}


def test_daemon_action():
    before = {'registry-mirrors': [], 'storage-driver': 'vfs'}
    assert daemon_action('daemon', before, dict(before)) == 'none'
    assert daemon_action('daemon', before, dict(before, **{'registry-mirrors': ['http://m'], 'live-restore': True})) == 'reload'
    assert daemon_action('daemon', before, dict(before, **{'debug': True, 'shutdown-timeout': 5,
                                                           'max-concurrent-uploads': 2})) == 'reload'
    assert daemon_action('daemon', before, dict(before, proxies={'http-proxy': 'x'})) == 'restart'
    assert daemon_action('daemon', before, {'registry-mirrors': []}) == 'restart'
    assert daemon_action('daemon', before, dict(before, **{'registry-mirrors': ['m'], 'bip': 'x'})) == 'restart'
    assert daemon_action('client', before, dict(before, proxies={})) == 'none'
    assert changed_top_level_keys({'a': 1, 'b': 1}, {'a': 1.0, 'c': 2}) == ['a', 'b', 'c']


def test_text_kept_when_data_unchanged_and_written_when_changed():
    text = '{"a":   1,\n "b": [1,2]}'
    assert edit_json_text(text, JsonEdit(settings={'a': 1})).text == text
    result = edit_json_text(text, JsonEdit(settings={'a': 2}, indent=4))
    assert result.text == '{\n    "a": 2,\n    "b": [\n        1,\n        2\n    ]\n}\n'
    assert edit_json_text(None, JsonEdit()).text is None
    assert edit_json_text(None, JsonEdit(settings={'x': 'ü'})).text == '{\n  "x": "ü"\n}\n'


def test_transform_handles_bytes_and_bad_utf8():
    new, result = json_transform(JsonEdit(kind='daemon', settings={'debug': True}))(b'{}')
    assert new == b'{\n  "debug": true\n}\n' and result.daemon_action == 'reload'
    with pytest.raises(JsonDocumentError, match='not valid UTF-8'):
        json_transform(JsonEdit(settings={'a': 1}))(b'{"a": "\xff"}')


def test_masking():
    text = '{"auths": {"r": {"auth": "c2VjcmV0", "identitytoken": "tok"}}, "proxies": {"default": {"httpProxy": "http://u:pw@p:1"}}}'
    masked = mask_json_text(text)
    assert 'c2VjcmV0' not in masked and 'tok"' not in masked and ':pw@' not in masked
    assert '"auth": "%s"' % MASK in masked and 'http://u:%s@p:1' % MASK in masked
    value = mask_json_value(json.loads(text))
    assert value['auths']['r'] == {'auth': MASK, 'identitytoken': MASK}
    assert value['proxies']['default']['httpProxy'] == 'http://u:%s@p:1' % MASK


def test_content_is_masked():
    result = edit_json_text('{"auths": {"r": {"auth": "c2VjcmV0"}}}', JsonEdit(kind='client', settings={'x': 1}))
    assert result.content == {'auths': {'r': {'auth': MASK}}, 'x': 1}
    assert 'c2VjcmV0' in result.text


_keys = st.text(alphabet='abcdef-.', min_size=1, max_size=5)
_scalars = st.one_of(st.integers(), st.booleans(), st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False))
_json = st.recursive(_scalars, lambda children: st.one_of(st.lists(children, max_size=3),
                                                          st.dictionaries(_keys, children, max_size=3)), max_leaves=10)
_documents = st.dictionaries(_keys, _json, max_size=5)


@settings(max_examples=150, deadline=None)
@given(before=_documents, settings_=_documents, list_merge=st.sampled_from(['replace', 'union']))
def test_merge_then_merge_again_is_a_no_op(before, settings_, list_merge):
    once = merge_settings(before, settings_, list_merge)
    assert same_json(merge_settings(once, settings_, list_merge), once)
    text = json.dumps(before)
    first = edit_json_text(text, JsonEdit(settings=settings_, list_merge=list_merge))
    second = edit_json_text(first.text, JsonEdit(settings=settings_, list_merge=list_merge))
    assert second.text == first.text
    assert second.daemon_action == 'none'


@settings(max_examples=150, deadline=None)
@given(before=_documents, settings_=_documents)
def test_untouched_keys_are_unchanged(before, settings_):
    after = merge_settings(before, settings_)
    for key, value in before.items():
        if key not in settings_:
            assert same_json(after[key], value)
    assert [key for key in after if key in before] == list(before)
