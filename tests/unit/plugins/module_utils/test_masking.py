# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Finding the secrets in module parameters, for Ansible's no_log_values, and URL passwords in linear time."""

from __future__ import annotations

import json
import re
import string
import timeit
import urllib.parse

import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._json_document import mask_json_text
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import (
    MASK,
    mask_url_userinfo,
    mask_value,
    secret_values,
    url_passwords,
)
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._toml_document import mask_config_text

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


# ------------------------------------------------ URL passwords, in linear time

# A plain reading of the rule, quadratic on long runs of letters (the regular
# expression is tried from every letter), that the linear scan must agree
# with: the authority ends at "/", "?", "#", white space or a double quote;
# the user info ends at its last "@", the password starts after its first ":".
REFERENCE = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://(?P<authority>[^/?#\s"]*)')


def reference_spans(text):
    for match in REFERENCE.finditer(text):
        userinfo, at, dummy_host = match.group('authority').rpartition('@')
        if at and ':' in userinfo:
            start = match.start('authority') + userinfo.index(':') + 1
            yield start, match.start('authority') + len(userinfo)


def reference_mask(text):
    pieces, last = [], 0
    for start, end in reference_spans(text):
        pieces += [text[last:start], MASK]
        last = end
    return ''.join(pieces) + text[last:]


_urlish = st.text(alphabet='aZ9+.-:/@ "\'\n\t_%é?#', max_size=60) | st.lists(
    st.sampled_from(['http', 'a', '1', '+', '://', ':', '@', '/', 'u', 'pw', ' ', '"', "'", 'é', '%40', '?', '#']),
    max_size=25).map(''.join)


@settings(max_examples=400, deadline=None)
@given(text=_urlish)
def test_url_masking_agrees_with_the_reference(text):
    assert mask_url_userinfo(text) == reference_mask(text)
    expected = set(text[start:end] for start, end in reference_spans(text) if end > start)
    if '"' not in text:
        assert secret_values({'value': text}, KEYS) == expected


def test_url_masking_examples():
    assert mask_url_userinfo('x http://u:p@h, git+ssh://git:s3cr3t@host/ a1://:@') == \
        'x http://u:%s@h, git+ssh://git:%s@host/ a1://:%s@' % (MASK, MASK, MASK)
    assert mask_url_userinfo('123://u:p@h http://u@h://x:y http://u:a/b@h') == '123://u:p@h http://u@h://x:y http://u:a/b@h'


# What Go's url.Parse (net/url, which dockerd and the runner use) returns as
# the password of each URL (go1.2x, checked by hand).
GO_PASSWORDS = [
    ('http://u:P@ssw0rd@proxy:3128', 'P@ssw0rd'),
    ("http://u:it's@proxy:3128", "it's"),
    ('http://u:a@b:c@h/x@y', 'a@b:c'),
    ('http://u:p@h?q@r', 'p'),
    ('http://u:p@[::1]:3128', 'p'),
    ('http://u:p%40x@h', 'p%40x'),
    ('http://u:p;,=!$&()*+~@h', 'p;,=!$&()*+~'),
    ('http://:@h', ''),
]


@pytest.mark.parametrize('url, password', GO_PASSWORDS)
def test_url_passwords_are_read_as_go_reads_them(url, password):
    assert url_passwords(url) == ([password] if password else [])
    masked = mask_url_userinfo('proxy %s failed' % url)
    assert masked == 'proxy %s failed' % url.replace(':%s@' % password, ':%s@' % MASK, 1)
    if len(password) > 1:
        assert password not in masked


_password = st.text(alphabet=string.ascii_letters + string.digits + "@:'%!$&()*+,;=~-._", min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(user=st.text(alphabet=string.ascii_letters + "'%-._", max_size=8), password=_password,
       host=st.sampled_from(['proxy.lab.test', '127.0.0.1', '[2001:db8::1]']), tail=st.sampled_from(['', '/', '/a@b', '?x@y', '#@']))
def test_every_password_is_masked_whole_as_urlsplit_reads_it(user, password, host, tail):
    url = 'http://%s:%s@%s:3128%s' % (user, password, host, tail)
    assert urllib.parse.urlsplit(url).password == password
    assert url_passwords(url) == [password]
    for text in (url, 'failed through %s: refused' % url, repr({'proxy': url})):
        assert mask_url_userinfo(text) == text.replace('%s:%s@' % (user, password), '%s:%s@' % (user, MASK), 1)
    # Data is also masked wherever else its secrets appear: here, nowhere else.
    assume(password not in 'HTTPS_PROXY=' + url.replace(':%s@' % password, ':@', 1))
    assert mask_value({'environment': ['HTTPS_PROXY=' + url]}, KEYS) == {
        'environment': ['HTTPS_PROXY=' + url.replace(':%s@' % password, ':%s@' % MASK, 1)]}


@pytest.mark.parametrize('params', [
    {'proxy': "svc:P@ss'w0rd@proxy.lab.test:3128"},
    {'proxies': {'http-proxy': "svc:P@ss'w0rd@proxy.lab.test:3128"}},
    {'proxies': {'default': {'httpsProxy': "svc:P@ss'w0rd@proxy.lab.test:3128"}}},
    {'environment': ["HTTPS_PROXY=svc:P@ss'w0rd@proxy.lab.test:3128"]},
    {'environment': {'ALL_PROXY': "svc:P@ss'w0rd@proxy.lab.test:3128"}},
], ids=['proxy', 'daemon.json', 'config.json', 'runner-environment', 'environment-mapping'])
def test_a_proxy_without_a_scheme_is_an_http_url_with_its_password(params):
    # Go's ProxyFromEnvironment (dockerd, the runner) and curl read "user:password@host:port" as an http:// proxy.
    assert secret_values(params, KEYS) == {"P@ss'w0rd"}
    masked = json.dumps(mask_value(params, KEYS))
    assert "P@ss'w0rd" not in masked and 'ss' not in masked and 'svc:********@proxy.lab.test:3128' in masked


def test_what_is_not_a_proxy_without_a_scheme_is_left_alone():
    params = {'description': 'mail ops:team@example.com', 'environment': ['NO_PROXY=a:b@c', 'GREETING=hi:there@x']}
    assert secret_values(params, KEYS) == set()
    assert mask_value(params, KEYS) == params


def best_time(function, argument, number):
    return min(timeit.repeat(lambda: function(argument), number=number, repeat=3))


def assert_linear(function, make_input, n):
    """Masking 4n characters takes less than 10 times as long as masking n.

    Quadratic work would take 16 times as long. The number of runs is
    chosen so that the small case takes some milliseconds, which keeps the
    ratio above timer resolution and noise.
    """
    small, big = make_input(n), make_input(4 * n)
    number = 1
    while best_time(function, small, number) < 0.005 and number < 10 ** 6:
        number *= 4
    for dummy in range(3):  # a busy machine may slow one measurement down; quadratic work fails every time
        small_time = best_time(function, small, number)
        big_time = best_time(function, big, number)
        if big_time < 10 * small_time:
            return
    raise AssertionError('%s: %d chars %.4fs, %d chars %.4fs' % (function.__name__, len(small), small_time, len(big), big_time))


LONG_INPUTS = {
    'letters': lambda n: 'a' * n,
    'words': lambda n: ('x' * 5000 + ' ') * (n // 5000) + 'x' * (n % 5000),
    'scheme chars': lambda n: 'a1+.-' * (n // 5),
    'schemes': lambda n: 'a://' * (n // 4),
    'scheme then colons': lambda n: 'a://' + 'b:' * (n // 2),
    'colons and ats': lambda n: 'a:@' * (n // 3),
    'userinfo without @': lambda n: 'http://' + 'u:' * (n // 2),
    'passwords': lambda n: 'a://u:p@' * (n // 8),
}


@pytest.mark.parametrize('name', sorted(LONG_INPUTS))
def test_url_masking_is_linear(name):
    assert_linear(mask_url_userinfo, LONG_INPUTS[name], 10000)


@pytest.mark.parametrize('name', sorted(LONG_INPUTS))
def test_document_masking_is_linear(name):
    def toml_text(n):
        return '[[runners]]\n  token = "t"\n  description = "%s"\n# %s\n' % (LONG_INPUTS[name](n), LONG_INPUTS[name](n))

    def json_text(n):
        return json.dumps({'auths': {'r': {'auth': 'x'}}, 'labels': [LONG_INPUTS[name](n)]})

    assert_linear(mask_config_text, toml_text, 10000)
    assert_linear(mask_json_text, json_text, 10000)


def test_a_url_right_after_a_schemeless_separator_is_masked():
    # Found by the property test above: "://" without a scheme before it was read as a URL whose
    # authority swallowed the next URL's scheme, and that URL's password stayed in clear.
    assert mask_url_userinfo("://http://user:secret@proxy.lab.test") == "://http://user:********@proxy.lab.test"
