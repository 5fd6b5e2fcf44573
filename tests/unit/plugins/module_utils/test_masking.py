# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Finding the secrets in module parameters, for Ansible's no_log_values."""

from __future__ import annotations

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import secret_values

KEYS = frozenset(('token', 'SecretKey', 'auth'))


def test_values_of_secret_keys_are_found_at_any_depth_and_in_any_case():
    params = {
        'settings': {'token': 'glrt-one', 'cache': {'s3': {'secretkey': 'aws-two'}}},
        'list': [{'AUTH': 'YWJjOmRlZg=='}],
    }
    assert secret_values(params, KEYS) == {'glrt-one', 'aws-two', 'YWJjOmRlZg=='}


def test_url_passwords_are_found_in_any_string_and_users_are_not():
    params = {
        'environment': {'HTTP_PROXY': 'http://alice:s3cr%40t@proxy.lab.test:3128'},
        'list': ['HTTPS_PROXY=https://bob:p4ss@proxy.lab.test:3128', 'NO_PROXY=localhost'],
    }
    assert secret_values(params, KEYS) == {'s3cr%40t', 'p4ss'}


def test_nothing_secret_gives_nothing():
    params = {
        'settings': {'name': 'token', 'token': '', 'url': 'http://user@proxy.lab.test:3128', 'limit': 3},
        'environment': None,
    }
    assert secret_values(params, KEYS) == set()
