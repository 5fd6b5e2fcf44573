# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Plain copies of parsed or templated data, shared by the document engines and the filters."""

from __future__ import annotations

from collections.abc import Mapping


def plain(value):
    """A deep copy of ``value`` made of plain dicts and lists (from tomlkit items, Ansible's mappings, tuples).

    Scalars are returned as they are; an edit of the copy never reaches the original.
    """
    if isinstance(value, Mapping):
        return dict((key, plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
