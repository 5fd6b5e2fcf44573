# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The doctor_table filter: the doctor's hops as the table a user reads.

Its documentation is in the YAML file of the same name beside this one; the
rendering and the advice live in module_utils/_doctor.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._doctor import (
    build_hops,
    cntlm_probe_settings,
    render_table,
    shown,
    table_rows,
)


def doctor_table(hops):
    if not isinstance(hops, (list, tuple)) or not all(isinstance(hop, Mapping) for hop in hops):
        raise AnsibleFilterError('doctor_table: expected a list of hops (mappings with hop, tried, result), got %r'
                                 % type(hops).__name__)
    missing = [index for index, hop in enumerate(hops) if not hop.get('hop') or not hop.get('result')]
    if missing:
        raise AnsibleFilterError('doctor_table: hop number %d has no "hop" or no "result"' % (missing[0] + 1))
    return render_table(table_rows(hops))


def doctor_hops(facts):
    if not isinstance(facts, Mapping):
        raise AnsibleFilterError('doctor_hops: expected the mapping of the doctor\'s findings, got %s'
                                 % type(facts).__name__)
    return build_hops(facts)


def doctor_cntlm_settings(text):
    if not isinstance(text, str):
        raise AnsibleFilterError('doctor_cntlm_settings: expected the text of cntlm.conf\'s Listen and Proxy lines, '
                                 'got %s' % type(text).__name__)
    return cntlm_probe_settings(text)


def doctor_masked(text):
    return shown(text, 2000)


class FilterModule:
    """The doctor's filters of behindproxy.gitlab_runner."""

    def filters(self):
        return {
            'doctor_table': doctor_table,
            'doctor_hops': doctor_hops,
            'doctor_cntlm_settings': doctor_cntlm_settings,
            'doctor_masked': doctor_masked,
        }
