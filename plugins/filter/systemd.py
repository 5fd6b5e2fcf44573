# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The systemd_environment filter: a unit drop-in that sets environment variables.

One place for the quoting rules, used by every role that gives a service its
proxy (dockerd, gitlab-runner). Its documentation is in the YAML file of the
same name beside this one.
"""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def _quoted(value):
    # Inside "…" systemd takes \\ and \" as escapes, and expands % specifiers
    # everywhere: %% is a literal %.
    return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"').replace('%', '%%')


def systemd_environment(variables):
    if not isinstance(variables, dict):
        raise AnsibleFilterError('systemd_environment: expected a mapping of variable names to values, got %s'
                                 % type(variables).__name__)
    lines = ['[Service]']
    for name, value in variables.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise AnsibleFilterError('systemd_environment: %r is not a variable name (letters, digits and _, '
                                     'not starting with a digit)' % (name,))
        if value is None or isinstance(value, (dict, list)):
            raise AnsibleFilterError('systemd_environment: the value of %s must be a string, got %s'
                                     % (name, type(value).__name__))
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if '\n' in text or '\r' in text:
            raise AnsibleFilterError('systemd_environment: the value of %s has a line break, which a unit file '
                                     'cannot hold' % name)
        lines.append('Environment=%s' % _quoted('%s=%s' % (name, text)))
    return '\n'.join(lines) + '\n'


class FilterModule:
    """systemd filters of behindproxy.gitlab_runner."""

    def filters(self):
        return {'systemd_environment': systemd_environment}
