# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's Docker-in-Docker filters.

Thin wrappers: the logic lives in module_utils/_dind.py. Each filter's
documentation is in the YAML file of the same name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _dind


def dind_runner_additions(runners, image, **options):
    try:
        return _dind.runner_additions(runners, image, **options)
    except ValueError as error:
        raise AnsibleFilterError("dind_runner_additions: %s" % error) from None


def dind_no_proxy(alias):
    try:
        return _dind.no_proxy_entries(alias)
    except ValueError as error:
        raise AnsibleFilterError("dind_no_proxy: %s" % error) from None


def dind_daemon_arguments(mirror, **options):
    try:
        return _dind.shared_daemon_arguments(mirror, **options)
    except ValueError as error:
        raise AnsibleFilterError("dind_daemon_arguments: %s" % error) from None


class FilterModule:
    """Docker-in-Docker filters of behindproxy.gitlab_runner."""

    def filters(self):
        return {
            "dind_runner_additions": dind_runner_additions,
            "dind_daemon_arguments": dind_daemon_arguments,
            "dind_no_proxy": dind_no_proxy,
        }
