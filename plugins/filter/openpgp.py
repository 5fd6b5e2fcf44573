# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The openpgp_fingerprints filter: which keys a downloaded signing key file holds.

A thin wrapper of module_utils/_openpgp.py, which the repository_key module
uses too. Its documentation is in the YAML file of the same name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _openpgp


def openpgp_fingerprints(key, subkeys=False):
    try:
        return _openpgp.fingerprints(key, subkeys=subkeys)
    except ValueError as error:
        raise AnsibleFilterError('openpgp_fingerprints: %s' % error) from None


class FilterModule:
    """OpenPGP filters of behindproxy.gitlab_runner."""

    def filters(self):
        return {'openpgp_fingerprints': openpgp_fingerprints}
