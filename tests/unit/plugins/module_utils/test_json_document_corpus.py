# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Edits over a corpus of daemon.json and client config.json files.

A changed JSON file is written again as a whole (with ``indent``): what must
survive is every unrelated key, with its value and its place in the order.
"""

from __future__ import annotations

import copy
import json
import pathlib

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._json_document import (
    JsonEdit,
    json_transform,
)

CORPUS = pathlib.Path(__file__).parents[2] / 'data' / 'docker_json'
FILES = sorted(CORPUS.glob('*.json'))

MIRROR = 'http://mirror.internal:5000'
PROXY = 'http://cntlm.internal:3128'


def kind_of(path):
    return 'daemon' if '_daemon_' in path.name else 'client'


def load(content):
    return json.loads(content) if content.strip() else {}


def edit_for(kind):
    if kind == 'daemon':
        return JsonEdit(kind='daemon', settings={'registry-mirrors': [MIRROR], 'live-restore': True}, list_merge='union')
    return JsonEdit(kind='client', settings={'proxies': {'default': {'httpProxy': PROXY, 'httpsProxy': PROXY,
                                                                     'noProxy': 'docker:2375,docker:2376'}}},
                    remove=['proxies.default.ftpProxy'])


def expected_after(kind, before):
    expected = copy.deepcopy(before)
    if kind == 'daemon':
        mirrors = expected.get('registry-mirrors', [])
        expected['registry-mirrors'] = mirrors + ([MIRROR] if MIRROR not in mirrors else [])
        expected['live-restore'] = True
    else:
        default = expected.setdefault('proxies', {}).setdefault('default', {})
        default.update({'httpProxy': PROXY, 'httpsProxy': PROXY, 'noProxy': 'docker:2375,docker:2376'})
        default.pop('ftpProxy', None)
    return expected


def key_orders(value, path=''):
    """Every object's key order, by path."""
    orders = {}
    if isinstance(value, dict):
        orders[path] = list(value)
        for key, item in value.items():
            orders.update(key_orders(item, path + '/' + key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            orders.update(key_orders(item, '%s[%d]' % (path, index)))
    return orders


def test_corpus_is_big_enough():
    assert len(FILES) >= 8
    assert {kind_of(path) for path in FILES} == {'daemon', 'client'}


@pytest.mark.parametrize('path', FILES, ids=[path.name for path in FILES])
def test_corpus_file_survives_an_edit(path):
    original = path.read_bytes()
    before = load(original)
    kind = kind_of(path)
    new, result = json_transform(edit_for(kind))(original)
    after = json.loads(new)
    assert after == expected_after(kind, before)
    assert new.endswith(b'\n') and not new.endswith(b'\n\n')
    for object_path, order in key_orders(before).items():
        assert [key for key in key_orders(after)[object_path] if key in order] == order
    assert result.daemon_action == ('reload' if kind == 'daemon' else 'none')
    assert json_transform(edit_for(kind))(new)[0] == new


@pytest.mark.parametrize('path', [path for path in FILES if kind_of(path) == 'daemon'],
                         ids=[path.name for path in FILES if kind_of(path) == 'daemon'])
def test_corpus_daemon_proxies_need_a_restart(path):
    original = path.read_bytes()
    other_proxy = 'http://other-cntlm.internal:3128'
    new, result = json_transform(JsonEdit(kind='daemon', settings={'proxies': {'http-proxy': other_proxy}}))(original)
    assert result.daemon_action == 'restart'
    assert json.loads(new)['proxies']['http-proxy'] == other_proxy


@pytest.mark.parametrize('path', FILES, ids=[path.name for path in FILES])
def test_corpus_file_unchanged_when_nothing_to_do(path):
    original = path.read_bytes()
    before = load(original)
    first_key = next(iter(before), None)
    settings = {first_key: before[first_key]} if first_key else {}
    new, result = json_transform(JsonEdit(kind=kind_of(path), settings=settings, remove=['no.such.key']))(original)
    assert new == original
    assert result.daemon_action == 'none'
