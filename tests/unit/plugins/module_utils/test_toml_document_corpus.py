# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Edits over a corpus of real-world-shaped config.toml files.

For each file: the parsed result equals the expected data, every line of the
original outside the edited keys is still there in order, and a second apply
changes nothing.
"""

from __future__ import annotations

import copy
import pathlib
import re
import tomllib

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    RunnerEdit,
    config_transform,
)

CORPUS = pathlib.Path(__file__).parents[2] / 'data' / 'config_toml'
FILES = sorted(CORPUS.glob('*.toml'))


def corpus_cases():
    """The corpus files, plus CRLF and byte-order-mark variants made here.

    The variants are derived at test time because the collection's own
    sanity checks do not allow such files in the repository.
    """
    cases = [(path.name, path.read_bytes()) for path in FILES]
    for name, content in list(cases):
        if name.startswith(('07_', '13_')):
            cases.append((name.replace('.toml', '_crlf.toml'), content.replace(b'\n', b'\r\n')))
        if name.startswith(('01_', '19_')):
            cases.append((name.replace('.toml', '_bom.toml'), b'\xef\xbb\xbf' + content))
    return cases


CASES = corpus_cases()

GLOBAL = {'concurrent': 12}
ENVIRONMENT = {'HTTP_PROXY': 'http://cntlm.internal:3128', 'NO_PROXY': 'localhost,docker:2375,docker:2376'}
SETTINGS = {'request_concurrency': 3, 'pre_get_sources_script': 'git config --global http.proxy "$HTTP_PROXY"'}
EDITED_KEYS = ('concurrent', 'request_concurrency', 'pre_get_sources_script', 'environment')


def apply(content, edit):
    new, result = config_transform(edit)(content)
    return new, result


def text_of(content):
    return content.decode('utf-8').lstrip('\ufeff')


def load(content):
    return tomllib.loads(text_of(content))


def target_runner(data):
    """The last [[runners]] entry: its name, and its url when the name repeats."""
    runners = data.get('runners', [])
    if not runners:
        return None, None
    runner = runners[-1]
    same_name = [entry for entry in runners if entry['name'] == runner['name']]
    return runner['name'], runner['url'] if len(same_name) > 1 else None


def expected_environment(entries):
    merged = []
    for entry in entries:
        variable = entry.split('=', 1)[0]
        if variable in ENVIRONMENT:
            wanted = '%s=%s' % (variable, ENVIRONMENT[variable])
            if wanted not in merged:
                merged.append(wanted)
        else:
            merged.append(entry)
    return merged + ['%s=%s' % item for item in ENVIRONMENT.items() if '%s=%s' % item not in merged]


def _end_of_value(value):
    """For a value that continues on later lines: a test for its last line, else None."""
    for quotes in ('"""', "'''"):
        if value.count(quotes) == 1:
            return lambda later: quotes in later
    if value.endswith('['):
        return lambda later: later.strip().startswith(']')
    return None


def unedited_lines(text):
    """Lines of ``text`` that do not belong to an edited key.

    The continuation lines of an edited multi-line array or string belong to it.
    """
    kept = []
    closing = None
    edited = re.compile(r'^\s*["\']?(%s)["\']?\s*=\s*(?P<value>.*)$' % '|'.join(EDITED_KEYS))
    for line in text.splitlines():
        if closing is not None:
            if closing(line):
                closing = None
            continue
        match = edited.match(line)
        if match:
            closing = _end_of_value(match.group('value').rstrip())
            continue
        if line.strip():
            kept.append(line)
    return kept


def assert_in_order(needles, haystack):
    position = 0
    for needle in needles:
        position = haystack.index(needle, position) + 1


def assert_line_endings_kept(original, new):
    if b'\r\n' in original:
        assert new.count(b'\n') == new.count(b'\r\n')
    else:
        assert b'\r' not in new


def test_corpus_is_big_enough():
    assert len(FILES) >= 15
    assert len(CASES) > len(FILES)


@pytest.mark.parametrize('original', [pytest.param(content, id=case) for case, content in CASES])
def test_corpus_file_survives_an_edit(original):
    before = load(original)
    name, url = target_runner(before)
    edit = RunnerEdit(global_settings=GLOBAL, name=name, url=url,
                      settings=SETTINGS if name else None, environment=ENVIRONMENT if name else None)
    new, result = apply(original, edit)

    expected = copy.deepcopy(before)
    expected.update(GLOBAL)
    if name:
        runner = expected['runners'][-1]
        runner.update(SETTINGS)
        runner['environment'] = expected_environment(runner.get('environment', []))
        assert result.runner['name'] == name
    assert load(new) == expected

    assert_in_order(unedited_lines(text_of(original)), text_of(new).splitlines())
    assert original.startswith(b'\xef\xbb\xbf') == new.startswith(b'\xef\xbb\xbf')
    assert_line_endings_kept(original, new)

    again, dummy_result = apply(new, edit)
    assert again == new


@pytest.mark.parametrize('original', [pytest.param(content, id=case) for case, content in CASES])
def test_corpus_file_gets_a_new_runner_appended(original):
    before = load(original)
    edit = RunnerEdit(name='added-by-ansible', url='https://gitlab.example.com/',
                      settings={'executor': 'docker', 'docker': {'image': 'alpine:3.20'}},
                      environment={'HTTPS_PROXY': 'http://cntlm.internal:3128'})
    new, dummy_result = apply(original, edit)
    after = load(new)
    assert after['runners'][:-1] == before.get('runners', [])
    assert after['runners'][-1] == {'name': 'added-by-ansible', 'url': 'https://gitlab.example.com/',
                                    'executor': 'docker', 'docker': {'image': 'alpine:3.20'},
                                    'environment': ['HTTPS_PROXY=http://cntlm.internal:3128']}
    assert {k: v for k, v in after.items() if k != 'runners'} == {k: v for k, v in before.items() if k != 'runners'}
    assert_in_order([line for line in text_of(original).splitlines() if line.strip()], text_of(new).splitlines())
    assert_line_endings_kept(original, new)
    assert apply(new, edit)[0] == new


@pytest.mark.parametrize('original', [pytest.param(content, id=case) for case, content in CASES])
def test_corpus_file_runner_removal_keeps_the_rest(original):
    before = load(original)
    name, url = target_runner(before)
    if name is None:
        assert apply(original, RunnerEdit(name='nobody', state='absent'))[0] == original
        return
    new, dummy_result = apply(original, RunnerEdit(name=name, url=url, state='absent'))
    after = load(new)
    expected = copy.deepcopy(before)
    del expected['runners'][-1]
    if not expected['runners']:
        del expected['runners']
    assert after == expected
