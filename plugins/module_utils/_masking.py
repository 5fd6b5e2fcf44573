# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Masking of secrets in text and data that modules return or show as a diff."""

from __future__ import annotations

import re

MASK = '********'

_URL_USERINFO = re.compile(r'(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s"\']*):(?P<password>[^@/\s"\']*)@')


def mask_url_userinfo(text):
    """Replace the password of every ``scheme://user:password@`` in ``text``."""
    return _URL_USERINFO.sub(lambda match: '%s%s:%s@' % (match.group('scheme'), match.group('user'), MASK), text)


def mask_secret_lines(text, secret_line):
    """Text with the value after each match's ``lead`` group, and every URL password, masked.

    ``secret_line`` is the file format's own pattern for a key that holds a
    secret followed by its quoted value.
    """
    return mask_url_userinfo(secret_line.sub(lambda match: match.group('lead') + '"%s"' % MASK, text))


def secret_values(value, secret_keys):
    """Every secret in a module's parameters, for AnsibleModule.no_log_values.

    The string values of keys named in ``secret_keys`` (compared without
    regard to case) and the password of every ``scheme://user:password@`` URL
    anywhere in ``value``. Registered with Ansible, they are masked in all
    the module returns, its ``invocation`` (the echo of its arguments)
    included.
    """
    names = frozenset(name.lower() for name in secret_keys)
    found = set()

    def walk(item, item_key):
        if isinstance(item, dict):
            for child_key, child in item.items():
                walk(child, child_key)
        elif isinstance(item, (list, tuple)):
            for child in item:
                walk(child, None)
        elif isinstance(item, str):
            if isinstance(item_key, str) and item_key.lower() in names and item:
                found.add(item)
            found.update(match.group('password') for match in _URL_USERINFO.finditer(item) if match.group('password'))

    walk(value, None)
    return found
