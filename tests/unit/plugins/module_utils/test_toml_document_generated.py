# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""config.toml documents generated from the runner's key list, and random edits of them.

Each document has global keys, one to three ``[[runners]]`` entries with
the fields the runner writes itself (id, token, token_obtained_at,
token_expires_at), keys of the types the key list gives, an environment
array (on one line or several, with comments inside), a docker table
(a section or an inline table), cache tables nested two deep (sections or
dotted keys), arrays of tables (docker services), comments before keys,
after values and after headers, blank lines, both quoting styles, and LF
or CRLF line ends. Each edit sets global keys, keys of one entry (docker
keys included) and environment variables. The data after the edit must be
the data before with the edit applied, and every line of the document that
does not hold an edited key must be in the result, byte for byte (its line
end included) and in its order.
"""

from __future__ import annotations

import json
import re
import tomllib

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._runner_config_keys import RUNNER_CONFIG_KEYS
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _toml_document
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import (
    RunnerEdit,
    apply_plain,
    edit_config_text,
    edit_entries_only,
)

EXAMPLES = 300
# What the runner writes itself, the entry's selector, and keys the generator writes in their own way.
OWN_FIELDS = ('name', 'url', 'id', 'token', 'token_obtained_at', 'token_expires_at', 'executor', 'environment')
SIMPLE_TYPES = ('int', 'string', '*string', 'bool', '[]string')
_BARE = re.compile(r'^[A-Za-z0-9_-]+$')


def simple_keys(section, exclude=()):
    """The keys of ``section`` in the runner's key list with a scalar or string-array type: (key, Go type)."""
    return sorted((key, go_type) for key, go_type in RUNNER_CONFIG_KEYS[section].items()
                  if go_type in SIMPLE_TYPES and _BARE.match(key) and key not in exclude)


GLOBAL_KEYS = simple_keys('global')
RUNNER_KEYS = simple_keys('runners', OWN_FIELDS)
DOCKER_KEYS = simple_keys('runners.docker')
CACHE_KEYS = simple_keys('runners.cache')
S3_KEYS = simple_keys('runners.cache.s3')

# Text a string may hold: letters, quotes, backslashes, spaces, tabs, non-ASCII; no DEL, which TOML
# allows only escaped and json.dumps leaves as it is.
_text = st.text(alphabet=st.characters(blacklist_categories=('Cs',), blacklist_characters='\x7f',
                                       max_codepoint=0x2FFF), max_size=10)


def values_of(go_type):
    if go_type == 'int':
        return st.integers(-1000, 10 ** 6)
    if go_type == 'bool':
        return st.booleans()
    if go_type == '[]string':
        return st.lists(_text, max_size=3)
    return _text


@st.composite
def rendered(draw, value):
    """``value`` as TOML text, in one of the ways it may be written."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        items = [draw(rendered(item)) for item in value]
        return '[%s]' % ', '.join(items) if items else '[]'
    if draw(st.booleans()) and "'" not in value and not any(ord(char) < 0x20 for char in value if char != '\t'):
        return "'%s'" % value
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


class Lines:
    """The document's lines, each with the key path it belongs to (None: no key's)."""

    def __init__(self, draw):
        self.draw = draw
        self.lines = []

    def comment(self, indent=''):
        if self.draw(st.booleans()):
            self.lines.append((indent + '# ' + self.draw(st.sampled_from(['kept', 'note: keep', 'é ü', '#'])), None))
        if self.draw(st.integers(0, 3)) == 0:
            self.lines.append(('', None))

    def key(self, path, key, text, indent=''):
        self.comment(indent)
        trailing = '  # %s' % key if self.draw(st.booleans()) else ''
        self.lines.append(('%s%s = %s%s' % (indent, key, text, trailing), path))

    def header(self, text, path=None):
        self.comment()
        trailing = '  # section' if self.draw(st.booleans()) else ''
        self.lines.append((text + trailing, path))


def pick(draw, keys, most):
    return draw(st.lists(st.sampled_from(keys), max_size=most, unique_by=lambda pair: pair[0]))


@st.composite
def documents(draw):
    """(text, line end, [(line, key path)]) of a generated config.toml."""
    lines = Lines(draw)
    for key, go_type in pick(draw, GLOBAL_KEYS, 4):
        lines.key(('global', key), key, draw(rendered(draw(values_of(go_type)))))
    for index in range(draw(st.integers(1, 3))):
        here = ('runners', index)
        lines.header('[[runners]]')
        own = [('name', json.dumps('r%d' % index)), ('url', json.dumps('https://gitlab.lab.test/')),
               ('id', str(100 + index)), ('token', json.dumps('glrt-generated-%d' % index)),
               ('token_obtained_at', '2026-01-01T00:00:00Z'), ('token_expires_at', '0001-01-01T00:00:00Z'),
               ('executor', '"docker"')]
        for key, text in own:
            lines.key(here + (key,), key, text, '  ')
        for key, go_type in pick(draw, RUNNER_KEYS, 3):
            lines.key(here + (key,), key, draw(rendered(draw(values_of(go_type)))), '  ')
        variables = draw(st.lists(st.sampled_from(['HTTP_PROXY', 'NO_PROXY', 'A', 'LANG', 'B_1']), unique=True,
                                  max_size=3))
        if variables:
            entries = [json.dumps('%s=%s' % (variable, draw(_text))) for variable in variables]
            if draw(st.booleans()):
                lines.key(here + ('environment',), 'environment', '[%s]' % ', '.join(entries), '  ')
            else:
                lines.comment('  ')
                lines.lines.append(('  environment = [', here + ('environment',)))
                for entry in entries:
                    trailing = '  # inside' if draw(st.booleans()) else ''
                    lines.lines.append(('    %s,%s' % (entry, trailing), here + ('environment',)))
                lines.lines.append(('  ]', here + ('environment',)))
        docker = pick(draw, DOCKER_KEYS, 3)
        cache_style = draw(st.sampled_from(['none', 'sections', 'dotted']))
        cache = pick(draw, CACHE_KEYS, 2)
        s3 = pick(draw, S3_KEYS, 2)
        docker_inline = bool(docker) and draw(st.booleans())
        if docker_inline:
            pairs = ['%s = %s' % (key, draw(rendered(draw(values_of(go_type))))) for key, go_type in docker]
            lines.key(here + ('docker',), 'docker', '{ %s }' % ', '.join(pairs), '  ')
        if cache_style == 'dotted':
            for key, go_type in cache:
                lines.key(here + ('cache', key), 'cache.%s' % key, draw(rendered(draw(values_of(go_type)))), '  ')
            for key, go_type in s3:
                lines.key(here + ('cache', 's3', key), 'cache.s3.%s' % key,
                          draw(rendered(draw(values_of(go_type)))), '  ')
        if docker and not docker_inline:
            lines.header('  [runners.docker]')
            for key, go_type in docker:
                lines.key(here + ('docker', key), key, draw(rendered(draw(values_of(go_type)))), '    ')
        if cache_style == 'sections':
            lines.header('  [runners.cache]')
            for key, go_type in cache:
                lines.key(here + ('cache', key), key, draw(rendered(draw(values_of(go_type)))), '    ')
            lines.header('    [runners.cache.s3]')
            for key, go_type in s3:
                lines.key(here + ('cache', 's3', key), key, draw(rendered(draw(values_of(go_type)))), '      ')
        if not docker_inline:
            for service in range(draw(st.integers(0, 2))):
                lines.header('  [[runners.docker.services]]', here + ('docker', 'services'))
                lines.key(here + ('docker', 'services'), 'name', json.dumps('docker:%d-dind' % service), '    ')
                lines.key(here + ('docker', 'services'), 'alias', json.dumps('docker'), '    ')
    end = draw(st.sampled_from(['\n', '\r\n']))
    text = ''.join(line + end for line, dummy in lines.lines)
    return text, end, lines.lines


@st.composite
def edits(draw, data):
    """(RunnerEdit, the key paths it edits) of one random edit of the document ``data``."""
    global_settings = dict((key, draw(values_of(go_type))) for key, go_type in pick(draw, GLOBAL_KEYS, 2))
    index = draw(st.integers(0, len(data['runners']) - 1))
    settings_ = dict((key, draw(values_of(go_type))) for key, go_type in pick(draw, RUNNER_KEYS, 2))
    docker = dict((key, draw(values_of(go_type))) for key, go_type in pick(draw, DOCKER_KEYS, 2))
    if docker:
        settings_['docker'] = docker
    environment = draw(st.dictionaries(st.sampled_from(['HTTP_PROXY', 'NO_PROXY', 'A', 'C']), _text, max_size=2))
    paths = [('global', key) for key in global_settings]
    paths += [('runners', index, key) for key in settings_ if key != 'docker']
    paths += [('runners', index, 'docker', key) for key in docker]
    if environment:
        paths.append(('runners', index, 'environment'))
    edit = RunnerEdit(global_settings=global_settings, name='r%d' % index, settings=settings_,
                      environment=environment)
    return edit, paths


def merged(table, changes):
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(table.get(key), dict):
            merged(table[key], value)
        else:
            table[key] = value


def expected_data(before, edit):
    data = tomllib.loads(before)
    merged(data, edit.global_settings)
    runner = next(entry for entry in data['runners'] if entry['name'] == edit.name)
    merged(runner, edit.settings)
    entries = list(runner.get('environment', []))
    for variable, value in edit.environment.items():
        names = [entry.split('=', 1)[0] for entry in entries]
        if variable in names:
            entries[names.index(variable)] = '%s=%s' % (variable, value)
        else:
            entries.append('%s=%s' % (variable, value))
    if edit.environment:
        runner['environment'] = entries
    return data


def touched(path, edited):
    """Whether the line of key path ``path`` holds one of the ``edited`` keys (or a table holding one)."""
    return path is not None and any(path[:len(other)] == other or other[:len(path)] == path for other in edited)


def is_subsequence(lines, of):
    remaining = iter(of)
    return all(any(line == candidate for candidate in remaining) for line in lines)


def examples_run(check):
    """Run ``check(data)`` (data: hypothesis' st.data()) on EXAMPLES generated examples; how many it ran."""
    ran = []

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def example(data):
        check(data)
        ran.append(1)

    example()
    return len(ran)


def check_a_random_edit(data):
    text, end, lines = data.draw(documents())
    before = tomllib.loads(text)
    edit, paths = data.draw(edits(before))
    result = edit_config_text(text, edit)
    assert tomllib.loads(result.text) == expected_data(text, edit)
    kept = [line + end for line, path in lines if not touched(path, paths)]
    # Split at LF only, each line keeping its end: str.splitlines would also split inside values (at U+0085).
    assert is_subsequence(kept, re.findall(r'[^\n]*\n|[^\n]+\Z', result.text))


def test_a_random_edit_of_a_generated_document_changes_only_what_it_asks():
    tried = examples_run(check_a_random_edit)
    # The figure docs/security.md gives: one generated document and one edit per example.
    print('\nconfig.toml documents generated and edited: %d' % tried)
    assert tried == EXAMPLES


@st.composite
def batches(draw, data):
    """A list of RunnerEdits: entries changed, removed and added, and global keys the file has, in random order."""
    count = len(data['runners'])
    chosen = draw(st.lists(st.integers(0, count - 1), unique=True, max_size=count))
    batch = []
    for index in chosen:
        if draw(st.booleans()):
            batch.append(RunnerEdit(name='r%d' % index, state='absent'))
        else:
            settings_ = dict((key, draw(values_of(go_type))) for key, go_type in pick(draw, RUNNER_KEYS, 2))
            environment = draw(st.dictionaries(st.sampled_from(['HTTP_PROXY', 'A']), _text, max_size=1))
            batch.append(RunnerEdit(name='r%d' % index, settings=settings_, environment=environment))
    for index in range(draw(st.integers(0, 2))):
        batch.append(RunnerEdit(name='new-%d' % index, url='https://gitlab.lab.test/',
                                settings={'executor': 'docker'}))
    present = [(key, go_type) for key, go_type in GLOBAL_KEYS if key in data]
    global_settings = dict((key, draw(values_of(go_type))) for key, go_type in (pick(draw, present, 2) if present else []))
    if global_settings:
        batch.append(RunnerEdit(global_settings=global_settings))
    return draw(st.permutations(batch)) if batch else [RunnerEdit(name='r0', settings={'limit': 3})]


def check_a_batch_edited_on_the_selected_entries(data):
    text, end, lines = data.draw(documents())
    before = tomllib.loads(text)
    batch = data.draw(batches(before))
    expected, steps = apply_plain(before, batch)
    got = edit_entries_only(text, before, batch, steps)
    # The cut gives up only on layouts the generator does not make (runners
    # after other tables, a new top-level key, a piece that does not parse):
    # on these documents, giving up is tomlkit parsing the whole file for nothing.
    assert got is not None, 'edit_entries_only gave up on %r' % text
    assert got == _toml_document._edit_whole_document(text, batch, steps)
    assert tomllib.loads(got) == expected


def test_editing_only_the_selected_entries_gives_the_whole_documents_text():
    edited = examples_run(check_a_batch_edited_on_the_selected_entries)
    print('\nbatches of edits on generated documents, each edited on the selected entries only: %d' % edited)
    assert edited == EXAMPLES
