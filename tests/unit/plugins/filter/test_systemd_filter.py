# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""systemd_environment: what systemd reads back is what was given."""

from __future__ import annotations

import shlex

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.filter.systemd import systemd_environment


def read_back(text):
    """Environment= lines as systemd reads them: C-style quotes, %% a literal %."""
    found = {}
    for line in text.splitlines():
        if line.startswith('Environment='):
            for word in shlex.split(line[len('Environment='):]):
                name, value = word.split('=', 1)
                found[name] = value.replace('%%', '%')
    return found


def test_values_with_quotes_backslashes_and_percent_come_back_unchanged():
    variables = {'HTTP_PROXY': 'http://172.17.0.1:3128', 'odd': 'a "b" \\c %d %%e'}
    text = systemd_environment(variables)
    assert text.startswith('[Service]\n') and text.endswith('\n')
    assert '%%d' in text
    assert read_back(text) == variables


@pytest.mark.parametrize('variables, word', [
    ({'BAD NAME': 'x'}, 'BAD NAME'),
    ({'1A': 'x'}, '1A'),
    ({'A': 'one\ntwo'}, 'line break'),
    ({'A': None}, 'must be a string'),
    ({'A': ['x']}, 'must be a string'),
])
def test_what_a_unit_cannot_hold_is_refused_by_name(variables, word):
    with pytest.raises(AnsibleFilterError, match=word):
        systemd_environment(variables)


def test_a_mapping_is_required():
    with pytest.raises(AnsibleFilterError, match='mapping'):
        systemd_environment(['A=1'])
