# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import copy
import datetime
import tomllib

import pytest
import tomlkit
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    MASK,
    RunnerEdit,
    TomlDocumentError,
    check_config_edit,
    config_transform,
    edit_config_text,
    environment_plan,
    find_runner,
    mask_config_text,
    mask_config_value,
    merge_environment_entries,
    same_data,
)

BASE = '''# managed by hand and by gitlab-runner
concurrent = 1  # jobs
check_interval = 0

[session_server]
  session_timeout = 1800

[[runners]]
  name = "a"
  url = "https://gitlab.example.com/"
  id = 3
  token = "glrt-SECRETTOKENVALUE"
  token_obtained_at = 2025-01-01T00:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  environment = [
    "HTTP_PROXY=http://old:3128", # keep this comment
    "KEEP=1",
  ]
  [runners.docker]
    image = 'alpine:3.20'
    privileged = false
'''


def edit(text, **kwargs):
    return edit_config_text(text, RunnerEdit(**kwargs))


def test_global_edit_keeps_everything_else():
    result = edit(BASE, global_settings={'concurrent': 4, 'log_level': 'info'})
    assert result.text == BASE.replace('concurrent = 1  # jobs', 'concurrent = 4  # jobs').replace(
        'check_interval = 0\n', 'check_interval = 0\nlog_level = "info"\n')


def test_settings_deep_merge_into_selected_runner():
    result = edit(BASE, name='a', settings={'docker': {'volumes': ['/cache'], 'privileged': True}, 'limit': 2})
    data = tomllib.loads(result.text)
    runner = data['runners'][0]
    assert runner['docker'] == {'image': 'alpine:3.20', 'privileged': True, 'volumes': ['/cache']}
    assert runner['limit'] == 2
    assert "    image = 'alpine:3.20'\n" in result.text
    assert '  token_obtained_at = 2025-01-01T00:00:00Z\n' in result.text
    assert '    volumes = ["/cache"]\n' in result.text


def test_new_tables_are_indented_like_the_runner_writes_them():
    result = edit(BASE, name='a', settings={'machine': {'IdleCount': 1}, 'docker': {'services': [{'name': 'docker:dind'}]}})
    assert '  [runners.machine]\n    IdleCount = 1\n' in result.text
    assert '    [[runners.docker.services]]\n      name = "docker:dind"\n' in result.text
    result = edit(BASE, name='c', settings={'executor': 'shell'})
    assert result.text.endswith('[[runners]]\n  name = "c"\n  executor = "shell"\n')


def test_unindented_files_stay_unindented():
    text = '[[runners]]\nname = "a"\n'
    result = edit(text, name='a', settings={'limit': 1, 'docker': {'image': 'x'}})
    assert all(not line.startswith(' ') for line in result.text.splitlines())


def test_null_removes_keys_and_tables():
    result = edit(BASE, name='a', settings={'docker': None, 'executor': None, 'missing': None})
    runner = tomllib.loads(result.text)['runners'][0]
    assert 'docker' not in runner and 'executor' not in runner
    assert '[runners.docker]' not in result.text


def test_array_replaces_and_table_replaces_scalar():
    result = edit(BASE, name='a', settings={'executor': {'odd': 1}, 'docker': {'image': ['x']}})
    runner = tomllib.loads(result.text)['runners'][0]
    assert runner['executor'] == {'odd': 1}
    assert runner['docker']['image'] == ['x']


def test_environment_merge_keeps_order_and_comment():
    result = edit(BASE, name='a', environment={'HTTP_PROXY': 'http://cntlm:3128', 'NEW': 'x'})
    runner = tomllib.loads(result.text)['runners'][0]
    assert runner['environment'] == ['HTTP_PROXY=http://cntlm:3128', 'KEEP=1', 'NEW=x']
    assert '"HTTP_PROXY=http://cntlm:3128", # keep this comment' in result.text


def test_environment_null_removes_and_last_removal_drops_the_key():
    result = edit(BASE, name='a', environment={'HTTP_PROXY': None})
    assert tomllib.loads(result.text)['runners'][0]['environment'] == ['KEEP=1']
    result = edit(result.text, name='a', environment={'KEEP': None})
    assert 'environment' not in tomllib.loads(result.text)['runners'][0]


def test_environment_values_are_stringified():
    result = edit(BASE, name='a', environment={'N': 3, 'B': True})
    assert tomllib.loads(result.text)['runners'][0]['environment'][-2:] == ['N=3', 'B=true']


def test_environment_plan_and_duplicates():
    entries = ['A=1', 'B=2', 'A=3', 'NOVALUE', 'C=4']
    assert environment_plan(entries, {'A': '9', 'B': None, 'D': 'x'}) == ({1, 2}, {0: 'A=9'}, ['D=x'])
    assert merge_environment_entries(entries, {'A': '9', 'B': None, 'D': 'x'}) == ['A=9', 'NOVALUE', 'C=4', 'D=x']
    assert merge_environment_entries(entries, {'NOVALUE': 'now'}) == ['A=1', 'B=2', 'A=3', 'NOVALUE=now', 'C=4']


def test_new_runner_is_appended_after_the_last():
    text = BASE + '\n[[runners]]\n  name = "b"\n  url = "https://gitlab.example.com/"\n'
    result = edit(text, name='c', url='https://other.example.com', settings={'executor': 'shell'},
                  environment={'X': '1'})
    data = tomllib.loads(result.text)
    assert [runner['name'] for runner in data['runners']] == ['a', 'b', 'c']
    assert data['runners'][2] == {'name': 'c', 'url': 'https://other.example.com', 'executor': 'shell',
                                  'environment': ['X=1']}
    assert result.text.startswith(text)
    assert result.runner['name'] == 'c'


def test_new_file_from_nothing():
    result = edit(None, global_settings={'concurrent': 2}, name='r', url='https://g.example.com',
                  settings={'docker': {'image': 'alpine'}})
    assert tomllib.loads(result.text) == {'concurrent': 2, 'runners': [
        {'name': 'r', 'url': 'https://g.example.com', 'docker': {'image': 'alpine'}}]}
    assert '\n  name = "r"\n  url = "https://g.example.com"\n' in result.text
    assert '\n  [runners.docker]\n    image = "alpine"\n' in result.text


def test_nothing_to_do_keeps_text_exactly():
    odd = BASE.replace('check_interval = 0', 'check_interval   =    0')
    result = edit(odd, global_settings={'concurrent': 1}, name='a', settings={'executor': 'docker'},
                  environment={'KEEP': '1'})
    assert result.text == odd


def test_types_are_compared_strictly():
    result = edit('a = 1\nb = true\n', global_settings={'a': 1.0, 'b': 1})
    assert tomllib.loads(result.text) == {'a': 1.0, 'b': 1}
    assert isinstance(tomllib.loads(result.text)['a'], float)


def test_state_absent_removes_only_that_runner():
    text = BASE + '\n[[runners]]\n  name = "b"\n  url = "https://gitlab.example.com/"\n'
    result = edit(text, name='a', state='absent')
    assert [runner['name'] for runner in tomllib.loads(result.text)['runners']] == ['b']
    assert result.runner == {}
    result = edit(result.text, name='b', state='absent')
    assert 'runners' not in tomllib.loads(result.text)
    assert edit(result.text, name='b', state='absent').text == result.text


def test_ambiguous_name_names_each_url():
    text = ('[[runners]]\nname = "s"\nurl = "https://one.example.com/"\n'
            '[[runners]]\nname = "s"\nurl = "https://two.example.com"\n')
    with pytest.raises(TomlDocumentError, match=r"2 \[\[runners\]\] entries are named 's' "
                                                r"\(urls: 'https://one.example.com/', 'https://two.example.com'\)"):
        edit(text, name='s', settings={'limit': 1})
    result = edit(text, name='s', url='https://two.example.com/', settings={'limit': 1})
    assert [runner.get('limit') for runner in tomllib.loads(result.text)['runners']] == [None, 1]


def test_find_runner_ignores_trailing_slash():
    entries = [{'name': 'x', 'url': 'https://a/'}, {'name': 'x', 'url': 'https://b'}]
    assert find_runner(entries, 'x', 'https://a') == 0
    assert find_runner(entries, 'x', 'https://b/') == 1
    assert find_runner(entries, 'y') is None


@pytest.mark.parametrize('bad, message', [
    ('a = 1\nb = = 2\n', 'line 2, column 5'),
    ('[[runners]]\nname = "x"\n[runners\n', 'line 3, column 9'),
    ('a = 1\na = 2\n', 'line 2'),
    ('a = {b = 1,\n c = 2}\n', 'line 1'),
])
def test_invalid_toml_reports_line_and_column(bad, message):
    with pytest.raises(TomlDocumentError, match='not valid TOML.*%s' % message):
        edit(bad, global_settings={'concurrent': 2})


def test_invalid_utf8_is_refused():
    with pytest.raises(TomlDocumentError, match='not valid UTF-8'):
        config_transform(RunnerEdit(global_settings={'a': 1}))(b'a = "\xff"\n')


@pytest.mark.parametrize('kwargs, message', [
    ({'global_settings': {'runners': []}}, 'global must not contain "runners"'),
    ({'settings': {'limit': 1}}, 'name is required'),
    ({'name': 'a', 'settings': {'name': 'b'}}, 'must not contain "name"'),
    ({'name': 'a', 'url': 'https://x', 'settings': {'url': 'https://y'}}, 'contradicts the url option'),
    ({'name': 'a', 'settings': {'volumes': ['/a', None]}}, r'settings.volumes\[1\]: TOML arrays cannot hold null'),
    ({'name': 'a', 'settings': {'x': object()}}, 'settings.x: .* is not a TOML value'),
    ({'name': 'a', 'environment': {'A=B': 'x'}}, 'without "="'),
    ({'name': 'a', 'environment': {'A': ['x']}}, 'environment value of A must be a string'),
    ({'name': ''}, 'name must be a non-empty string'),
])
def test_bad_requests_are_refused_with_the_bad_value(kwargs, message):
    with pytest.raises(TomlDocumentError, match=message):
        edit(BASE, **kwargs)


@pytest.mark.parametrize('text, kwargs, message', [
    ('runners = [1, 2]\n', {'name': 'a'}, '"runners" in the file is not an array of tables'),
    ('runners = "x"\n', {'name': 'a'}, '"runners" in the file is not an array of tables'),
    ('[[runners]]\nname = "a"\nenvironment = "A=1"\n', {'name': 'a', 'environment': {'B': '2'}},
     "environment of runner 'a' is not an array"),
])
def test_unexpected_file_shapes_are_refused(text, kwargs, message):
    with pytest.raises(TomlDocumentError, match=message):
        edit(text, **kwargs)


def test_runner_is_masked_and_dates_are_text():
    result = edit(BASE, name='a', environment={'HTTPS_PROXY': 'http://user:pa55@proxy:8080'})
    assert result.runner['token'] == MASK
    assert result.runner['token_obtained_at'] == '2025-01-01T00:00:00+00:00'
    assert 'HTTPS_PROXY=http://user:%s@proxy:8080' % MASK in result.runner['environment']
    assert 'pa55' not in repr(result.runner)


def test_diff_text_masking():
    text = 'token = "glrt-abc"\n  bearer_token = \'x\'\nSecretKey="s" # c\nurl = "https://u:p@h/"\nname = "token"\n'
    masked = mask_config_text(text)
    assert masked == ('token = "%s"\n  bearer_token = "%s"\nSecretKey="%s" # c\nurl = "https://u:%s@h/"\nname = "token"\n'
                      % (MASK, MASK, MASK, MASK))


def test_mask_config_value_leaves_empty_token_and_others():
    assert mask_config_value({'token': '', 'name': 'token', 'when': datetime.date(2025, 1, 2)}) == {
        'token': '', 'name': 'token', 'when': '2025-01-02'}


def test_unknown_keys_of_the_edit_only():
    text = BASE + '  bogus_in_file = 1\n'
    result = edit(text, global_settings={'concurent': 2}, name='a',
                  settings={'docker': {'imgae': 'x'}, 'pre_clone_script': 'x', 'removed_typo': None})
    assert result.unknown_keys == ['concurent', 'runners[0].docker.imgae', 'runners[0].pre_clone_script']


def test_validate_keys_error_refuses():
    with pytest.raises(TomlDocumentError, match='imgae'):
        config_transform(RunnerEdit(name='a', settings={'docker': {'imgae': 'x'}}), 'error')(BASE.encode())
    new, result = config_transform(RunnerEdit(name='a', settings={'docker': {'imgae': 'x'}}), 'ignore')(BASE.encode())
    assert result.unknown_keys == [] and b'imgae' in new


def test_bom_is_kept():
    result = config_transform(RunnerEdit(global_settings={'concurrent': 3}))(b'\xef\xbb\xbfconcurrent = 1\n')
    assert result[0] == b'\xef\xbb\xbfconcurrent = 3\n'


def test_absent_on_missing_file_needs_no_file():
    new, result = config_transform(RunnerEdit(name='x', state='absent'))(None)
    assert new is None and result.runner == {}


# ------------------------------------------------------------ properties

_names = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters='='),
                 min_size=1, max_size=12)
_values = st.text(max_size=20)
_scalars = st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.booleans(), _values,
                     st.floats(allow_nan=False, allow_infinity=False))
_keys = st.text(alphabet='abcdefghij_-', min_size=1, max_size=6)
_settings = st.recursive(
    st.dictionaries(_keys, _scalars, max_size=3),
    lambda children: st.dictionaries(_keys, st.one_of(_scalars, children, st.lists(_scalars, max_size=3)), max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(settings_=_settings, environment=st.dictionaries(_names, st.one_of(_values, st.none()), max_size=4))
def test_merge_then_merge_again_is_a_no_op(settings_, environment):
    settings_.pop('name', None)
    first = edit(BASE, name='a', settings=settings_, environment=environment)
    second = edit(first.text, name='a', settings=settings_, environment=environment)
    assert second.text == first.text


@settings(max_examples=60, deadline=None)
@given(settings_=_settings)
def test_untouched_keys_are_unchanged(settings_):
    settings_.pop('name', None)
    before = tomllib.loads(BASE)
    after = tomllib.loads(edit(BASE, name='a', settings=settings_).text)
    assert {k: v for k, v in after.items() if k != 'runners'} == {k: v for k, v in before.items() if k != 'runners'}
    for key, value in before['runners'][0].items():
        if key not in settings_:
            assert same_data(after['runners'][0][key], value)
    for key, value in settings_.items():
        if not isinstance(value, dict):
            assert same_data(after['runners'][0][key], value)


@settings(max_examples=80, deadline=None)
@given(existing=st.lists(st.tuples(_names, _values), max_size=6, unique_by=lambda pair: pair[0]),
       changes=st.dictionaries(_names, st.one_of(_values, st.none()), max_size=4))
def test_environment_merge_keeps_others_and_their_order(existing, changes):
    entries = ['%s=%s' % pair for pair in existing]
    text = tomllib_safe_runner(entries)
    result = edit(text, name='a', environment=changes)
    merged = tomllib.loads(result.text)['runners'][0].get('environment', [])
    untouched = [entry for entry in entries if entry.split('=', 1)[0] not in changes]
    assert [entry for entry in merged if entry.split('=', 1)[0] not in changes] == untouched
    for variable, value in changes.items():
        matching = [entry for entry in merged if entry.split('=', 1)[0] == variable]
        assert matching == ([] if value is None else ['%s=%s' % (variable, value)])
    if not any(value is None for value in changes.values()):
        old_positions = [entry.split('=', 1)[0] for entry in entries]
        assert [entry.split('=', 1)[0] for entry in merged][:len(old_positions)] == old_positions


def tomllib_safe_runner(entries):
    document = tomlkit.document()
    runners = tomlkit.aot()
    runner = tomlkit.table()
    runner['name'] = 'a'
    if entries:
        runner['environment'] = copy.copy(entries)
    runners.append(runner)
    document['runners'] = runners
    return tomlkit.dumps(document)


def test_an_edit_that_changes_nothing_never_needs_tomlkit(monkeypatch):
    # The second run of a play is the common case: deciding it from tomllib's
    # data alone keeps it fast and lets it pass on files an old tomlkit
    # cannot parse.
    text = '# kept\nconcurrent = 2\n[[runners]]\n  name = "a"\n  url = "https://gitlab.lab.test/"\n  token = "glrt-x"\n'
    edit = RunnerEdit(global_settings={'concurrent': 2}, name='a', settings={'url': 'https://gitlab.lab.test/'})

    def refuse(*args, **kwargs):
        raise AssertionError('tomlkit was used for an edit that changes nothing')

    monkeypatch.setattr(tomlkit, 'parse', refuse)
    result = edit_config_text(text, edit)
    assert result.text == text
    assert result.runner['token'] == '********'
    with pytest.raises(AssertionError, match='tomlkit was used'):
        edit_config_text(text, RunnerEdit(global_settings={'concurrent': 3}))


# ------------------------------------------------------------ several edits

def test_several_edits_in_one_pass_keep_the_layout_and_tell_which_entry_changed():
    edits = [RunnerEdit(global_settings={'concurrent': 2}),
             RunnerEdit(name='a', settings={'limit': 4}),
             RunnerEdit(name='b', url='https://gitlab.example.com/', settings={'executor': 'shell'}),
             RunnerEdit(name='a-twin', state='absent')]
    result = edit_config_text(BASE, edits)
    head = BASE.split('[session_server]', maxsplit=1)[0]
    assert result.text.startswith(head.replace('concurrent = 1  # jobs', 'concurrent = 2  # jobs'))
    assert '"HTTP_PROXY=http://old:3128", # keep this comment' in result.text
    data = tomllib.loads(result.text)
    assert [(runner['name'], runner.get('limit'), runner['executor']) for runner in data['runners']] == [
        ('a', 4, 'docker'), ('b', None, 'shell')]
    assert result.runner_changed == [False, True, True, False]
    assert [runner.get('name') for runner in result.runners] == [None, 'a', 'b', None]
    assert result.runner == {}
    assert result.runners[1]['token'] == MASK

    again = edit_config_text(result.text, edits)
    assert again.text == result.text and again.runner_changed == [False] * 4


def test_edits_after_a_removal_find_their_entries_and_report_their_final_place():
    text = ''.join('[[runners]]\n  name = "r%d"\n  executor = "docker"\n' % index for index in range(4))
    result = edit_config_text(text, [RunnerEdit(name='r0', state='absent'), RunnerEdit(name='r2', settings={'limit': 1}),
                                     RunnerEdit(name='r3', settings={'docker': {'imgae': 'x'}})])
    assert [runner['name'] for runner in tomllib.loads(result.text)['runners']] == ['r1', 'r2', 'r3']
    assert tomllib.loads(result.text)['runners'][1]['limit'] == 1
    # r3 is the third entry once r0 is gone: the path and the name say so.
    assert result.unknown_keys == ['runners[2].docker.imgae']
    assert result.unknown_key_messages == ["runner 'r3': runners[2].docker.imgae: unknown key, did you mean 'image'?"]


def test_two_edits_of_one_entry_are_refused():
    with pytest.raises(TomlDocumentError, match="two edits select the same"):
        edit_config_text(BASE, [RunnerEdit(name='a', settings={'limit': 1}), RunnerEdit(name='a', state='absent')])
    with pytest.raises(TomlDocumentError, match="two edits select the same"):
        edit_config_text('', [RunnerEdit(name='new'), RunnerEdit(name='new', settings={'limit': 1})])


def test_wrong_types_of_several_runners_are_named_and_refused_together():
    transform = config_transform([RunnerEdit(name='a', settings={'limit': 'two'}),
                                  RunnerEdit(name='b', settings={'docker': {'privileged': 'yes'}})])
    with pytest.raises(TomlDocumentError) as refused:
        transform(BASE.encode())
    assert "runner 'a': runners[0].limit: gitlab-runner expects an integer" in str(refused.value)
    assert "runner 'b': runners[1].docker.privileged: gitlab-runner expects a boolean" in str(refused.value)


DRY_RUN_CASES = [
    ([RunnerEdit(name='a', settings={'limit': 'two'}), RunnerEdit(name='b', settings={'docker': {'privileged': 'yes'}})],
     'warn'),
    ([RunnerEdit(name='a', settings={'docker': {'imgae': 'x'}})], 'error'),
    ([RunnerEdit(name='a', settings={'docker': {'imgae': 'x'}})], 'warn'),
    ([RunnerEdit(name='new', url='https://gitlab.example.com/', settings={'limit': 'two'})], 'ignore'),
    ([RunnerEdit(global_settings={'concurrent': 'abc'}), RunnerEdit(name='a', state='absent')], 'warn'),
    ([RunnerEdit(name='a', environment={'A': '1'}, settings={'executor': 'docker'})], 'error'),
]


@pytest.mark.parametrize('edits, validate_keys', DRY_RUN_CASES)
@pytest.mark.parametrize('text', [BASE, '\ufeff' + BASE, None], ids=['file', 'bom', 'no file'])
def test_the_dry_run_refuses_what_the_write_refuses_with_the_same_message_and_without_tomlkit(
        edits, validate_keys, text, monkeypatch):
    try:
        config_transform(edits, validate_keys)(None if text is None else text.encode())
        written = None
    except TomlDocumentError as error:
        written = str(error)
    # The dry run reads the data alone: tomlkit is never asked.
    monkeypatch.setattr(tomlkit, 'parse', lambda *args: pytest.fail('tomlkit parsed the file'))
    try:
        check_config_edit(text, edits, validate_keys)
        checked = None
    except TomlDocumentError as error:
        checked = str(error)
    assert checked == written


def test_a_hundred_new_entries_in_one_pass():
    edits = [RunnerEdit(name='r%03d' % index, url='https://gitlab.example.com/', environment={'A': str(index)},
                        settings={'executor': 'docker', 'docker': {'image': 'alpine'}}) for index in range(100)]
    result = edit_config_text(None, edits)
    runners = tomllib.loads(result.text)['runners']
    assert [runner['name'] for runner in runners] == ['r%03d' % index for index in range(100)]
    assert runners[42]['environment'] == ['A=42'] and result.runner_changed == [True] * 100
    assert '\n  [runners.docker]\n    image = "alpine"\n' in result.text
