# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Editing only the selected [[runners]] entries (edit_entries_only).

tomlkit must get the entries an edit selects, not the whole file, and the
text that comes back must be byte for byte the text of the same edit made
on the whole document. Layouts the cut cannot handle fall back to the whole
document, with the same result.
"""

from __future__ import annotations

import pytest
import tomlkit

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _toml_document
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    RunnerEdit,
    apply_plain,
    edit_config_text,
    edit_entries_only,
    load_plain,
)

RUNNERS = 40


def entry(index):
    return (
        '\n# runner %d, behind cntlm\n'
        '[[runners]]\n'
        '  name = "r%d"\n'
        '  url = "https://gitlab.lab.test/"\n'
        '  id = %d\n'
        '  token = "glrt-entries-only-%d"  # its own comment\n'
        '  executor = "docker"\n'
        '  environment = [\n'
        '    "HTTP_PROXY=http://172.17.0.1:3128",  # cntlm\n'
        '    "NO_PROXY=localhost",\n'
        '  ]\n'
        '  pre_build_script = """\n'
        '[not a header]\n'
        'echo %d\n'
        '"""\n'
        '  [runners.docker]\n'
        '    image = "debian:12"\n'
        '    volumes = ["/cache"]\n'
        '    [[runners.docker.services]]\n'
        '      name = "docker:dind"\n'
        '  [runners.cache]\n'
        '    [runners.cache.s3]\n'
        '      BucketName = "b%d"\n'
    ) % (index, index, 100 + index, index, index, index)


def config(runners=RUNNERS, head='concurrent = 4\ncheck_interval = 0\n\n[session_server]\n  session_timeout = 1800\n',
           tail='', crlf=False):
    text = head + ''.join(entry(index) for index in range(runners)) + tail
    return text.replace('\n', '\r\n') if crlf else text


def whole_document(text, edits):
    """The text of the same edits made by tomlkit on the whole document."""
    expected, steps = apply_plain(load_plain(text), edits)
    return _toml_document._edit_whole_document(text, edits, steps)


def entries_only(text, edits):
    before = load_plain(text)
    expected, steps = apply_plain(before, edits)
    return edit_entries_only(text, before, edits, steps)


@pytest.fixture
def parsed_sizes(monkeypatch):
    """The length of every text tomlkit parses."""
    sizes = []
    parse = tomlkit.parse

    def recording(text):
        sizes.append(len(text))
        return parse(text)
    monkeypatch.setattr(tomlkit, 'parse', recording)
    return sizes


EDITS = {
    'a setting of an entry in the middle': [RunnerEdit(name='r17', settings={'docker': {'image': 'debian:13'}})],
    'a new key in an entry, and its environment': [
        RunnerEdit(name='r3', settings={'limit': 2}, environment={'HTTPS_PROXY': 'http://172.17.0.1:3128'})],
    'the first entry removed': [RunnerEdit(name='r0', state='absent')],
    'an entry in the middle removed': [RunnerEdit(name='r20', state='absent')],
    'the last entry removed': [RunnerEdit(name='r%d' % (RUNNERS - 1), state='absent')],
    'an entry added': [RunnerEdit(name='new', url='https://gitlab.lab.test/', settings={'executor': 'docker'})],
    'the last entry removed, then one added': [
        RunnerEdit(name='r%d' % (RUNNERS - 1), state='absent'),
        RunnerEdit(name='new', url='https://gitlab.lab.test/', settings={'docker': {'image': 'alpine'}})],
    'a global key that is there, and an entry': [
        RunnerEdit(global_settings={'concurrent': 8, 'session_server': {'session_timeout': 60}}, name='r5',
                   settings={'output_limit': 8192})],
    'a global key only': [RunnerEdit(global_settings={'check_interval': 3})],
    'a batch: two removed, one changed, one unchanged, two added': [
        RunnerEdit(global_settings={'concurrent': 2}),
        RunnerEdit(name='r2', state='absent'),
        RunnerEdit(name='r9', settings={'docker': {'volumes': ['/cache', '/certs/client']}}),
        RunnerEdit(name='r11', settings={'executor': 'docker'}),
        RunnerEdit(name='r30', state='absent'),
        RunnerEdit(name='added-1', url='https://gitlab.lab.test/'),
        RunnerEdit(name='added-2', url='https://gitlab.lab.test/', settings={'limit': 1}),
    ],
}


@pytest.mark.parametrize('crlf', [False, True], ids=['LF', 'CRLF'])
@pytest.mark.parametrize('tail', ['', '\n[tail_table]\n  key = 1\n'], ids=['no tail', 'a table after the entries'])
@pytest.mark.parametrize('name', sorted(EDITS))
def test_only_the_selected_entries_reach_tomlkit_and_the_text_is_the_whole_documents(name, tail, crlf, parsed_sizes):
    text = config(tail=tail, crlf=crlf)
    edits = EDITS[name]
    wanted = whole_document(text, edits)
    assert wanted != text
    del parsed_sizes[:]
    got = entries_only(text, edits)
    assert got == wanted
    # The header and the selected entries (at most five of forty here, and the last for an added one).
    assert parsed_sizes and max(parsed_sizes) < len(text) / 6
    result = edit_config_text(text, edits)
    assert result.text == wanted
    assert max(parsed_sizes) < len(text) / 6


def test_every_entry_removed_edits_the_whole_document():
    text = config(runners=2)
    edits = [RunnerEdit(name='r0', state='absent'), RunnerEdit(name='r1', state='absent')]
    assert entries_only(text, edits) == whole_document(text, edits)
    assert 'runners' not in load_plain(edit_config_text(text, edits).text)


@pytest.mark.parametrize('text, edits', [
    pytest.param('runners = [{ name = "a", url = "u" }, { name = "b", url = "u" }]\n',
                 [RunnerEdit(name='a', settings={'limit': 1})], id='entries as an inline array'),
    pytest.param('[[runners]]\n  name = "a"\n[other]\n  k = 1\n[[runners]]\n  name = "b"\n',
                 [RunnerEdit(name='b', settings={'limit': 1})], id='a table between the entries'),
    pytest.param('[[runners]]\n  name = "a"\n  pre_build_script = """\n[[runners]]\n"""\n[[runners]]\n  name = "b"\n',
                 [RunnerEdit(name='b', settings={'limit': 1})], id='an entry header inside a multi-line string'),
])
def test_layouts_the_cut_cannot_handle_fall_back_to_the_whole_document(text, edits):
    assert entries_only(text, edits) is None
    assert edit_config_text(text, edits).text == whole_document(text, edits)


@pytest.mark.parametrize('tail', ['', '[tail_table]\n  key = 1\n'], ids=['no tail', 'a table after the entries'])
def test_new_global_keys_edit_the_whole_document(tail):
    text = config(runners=3, head='concurrent = 1\n', tail=tail)
    edits = [RunnerEdit(global_settings={'session_server': {'session_timeout': 5}, 'check_interval': 3},
                        name='r1', settings={'limit': 1})]
    # tomlkit may end the entry before a new table with a blank line: the
    # whole document is edited.
    assert entries_only(text, edits) is None
    got = edit_config_text(text, edits).text
    assert got == whole_document(text, edits)
    assert got.index('check_interval') < got.index('[[runners]]') < got.index('[session_server]')


@pytest.mark.parametrize('crlf', [False, True], ids=['LF', 'CRLF'])
def test_a_file_without_a_final_line_end_gets_one_with_an_edit(crlf):
    text = config(runners=3, crlf=crlf).rstrip('\r\n')
    end = '\r\n' if crlf else '\n'
    for edits in ([RunnerEdit(name='r2', settings={'limit': 1})], [RunnerEdit(name='r1', state='absent')],
                  [RunnerEdit(name='r2', state='absent')], [RunnerEdit(name='new', url='https://gitlab.lab.test/')]):
        # tomlkit alone writes a new entry's header right after the last value: not TOML.
        result = edit_config_text(text, edits).text
        assert result == entries_only(text + end, edits) == whole_document(text + end, edits)
    assert edit_config_text(text, [RunnerEdit(name='r2', settings={'executor': 'docker'})]).text == text


def test_a_header_lookalike_line_in_a_multiline_array_is_no_header():
    text = ('[[runners]]\n  name = "a"\n  volumes = [\n["x"],\n  ]\n'
            '[[runners]]\n  name = "b"\n  [runners.docker]\n    image = "x"\n')
    # volumes is not a string array here, so the edit touches another key.
    edits = [RunnerEdit(name='a', settings={'limit': 1})]
    assert entries_only(text, edits) == whole_document(text, edits)


@pytest.mark.parametrize('piece', ['[[runners]\n', 'concurrent = 4\n'], ids=['not TOML', 'other data'])
def test_a_wrong_result_of_the_cut_is_never_written(piece, monkeypatch):
    # Whatever goes wrong in the cut, the result's data is checked and the
    # whole document is edited instead.
    text = config(runners=3)
    edits = [RunnerEdit(name='r1', settings={'limit': 1})]
    wanted = whole_document(text, edits)
    monkeypatch.setattr(_toml_document, 'edit_entries_only', lambda *arguments: piece)
    assert edit_config_text(text, edits).text == wanted


def test_a_tomlkit_error_in_the_piece_leaves_the_error_to_the_whole_document(monkeypatch):
    text = config(runners=3)
    edits = [RunnerEdit(name='r1', settings={'limit': 1})]

    def failing(*arguments):
        raise tomlkit.exceptions.TOMLKitError('tomlkit failed')
    monkeypatch.setattr(_toml_document, '_edit_whole_document', failing)
    assert entries_only(text, edits) is None
