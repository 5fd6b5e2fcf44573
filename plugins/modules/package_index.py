#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: package_index
short_description: Read apt's package index when a package to install has no install candidate
version_added: 1.0.0
description:
  - Tells, for each package in O(packages), the version installed and the version apt would install (its
    candidate), as C(apt-cache policy) reports them.
  - When a package that is not installed has no candidate, the index is read (C(apt-get update)) once and
    the packages are looked up again. This is the state of a freshly provisioned host or container whose
    image removed C(/var/lib/apt/lists/*) - the lists are empty, yet the folder is new, so a cache age such
    as C(cache_valid_time) of M(ansible.builtin.apt) judges them fresh and nothing can be installed.
    The lists' age does not matter here, only whether the packages can be found.
  - When every package is installed or has a candidate, the index is not read, so a converged host does
    not pay for a refresh on every run.
  - Reading the index changes no configuration of the host, so the module never reports a change, and it
    reads the index in check mode too, so that check mode on a new host can tell what it would install.
  - The roles of this collection call it before they install a package; it is one place for that decision.
author:
  - behindproxy developers (@behindproxy)
attributes:
  check_mode:
    support: full
    description: Runs in check mode; it then reads the index as it would otherwise (no configuration changes).
  diff_mode:
    support: none
    description: There is nothing to show a difference of.
options:
  packages:
    description:
      - Names of the packages the play is going to need, as apt knows them (C(docker.io), C(cntlm)).
    type: list
    elements: str
    required: true
  fail_on_missing:
    description:
      - Fail when a package is neither installed nor has a candidate after the index was read, naming the
        packages and where apt takes its repositories from, or, when C(apt-get update) could not read a
        repository (a proxy or mirror that is down), what apt said about it.
      - With V(false) such a package is returned with a V(null) C(candidate).
    type: bool
    default: true
requirements:
  - apt (C(apt-get), C(apt-cache)) on the managed host.
notes:
  - Only apt is supported; on other package managers the task fails, saying so.
seealso:
  - module: ansible.builtin.apt
'''

EXAMPLES = r'''
- name: Make sure apt can find the engine, reading the index only if it cannot
  behindproxy.gitlab_runner.package_index:
    packages: [docker.io]

- name: Install it
  ansible.builtin.apt:
    name: docker.io
    state: present

- name: Learn which cntlm version would be installed (it decides the hash format)
  behindproxy.gitlab_runner.package_index:
    packages: [cntlm]
  register: cntlm_index

- name: Show it
  ansible.builtin.debug:
    msg: "{{ cntlm_index.packages.cntlm.installed or cntlm_index.packages.cntlm.candidate }}"
'''

RETURN = r'''
refreshed:
  description: Whether the index was read by this task.
  returned: success
  type: bool
  sample: true
packages:
  description: Per package, the version installed and the candidate, each V(null) when there is none.
  returned: success
  type: dict
  sample:
    docker.io:
      installed: null
      candidate: 20.10.24+dfsg1-1+deb12u1
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._masking import mask_url_userinfo

# apt's messages in English, whatever the host's locale.
C_LOCALE = {'LANG': 'C', 'LC_ALL': 'C', 'LANGUAGE': ''}
NO_VERSION = '(none)'


def parse_policy(text):
    """``apt-cache policy`` output -> {name: {'installed': str|None, 'candidate': str|None}}.

    A package apt does not know at all is not in the output (apt says so on
    stderr); a known one has a ``name:`` line at column 0 followed by indented
    ``Installed:`` and ``Candidate:`` lines.
    """
    found = {}
    current = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(':'):
            current = found.setdefault(line[:-1], {'installed': None, 'candidate': None})
            continue
        field, separator, value = line.strip().partition(': ')
        if current is None or not separator or field not in ('Installed', 'Candidate'):
            continue
        value = value.strip()
        current[field.lower()] = None if value == NO_VERSION else value
    return found


def lookup(module, names):
    """Installed and candidate version of each name (both None when apt does not know it)."""
    rc, out, err = module.run_command(['apt-cache', 'policy'] + names, environ_update=C_LOCALE)
    if rc != 0:
        module.fail_json(msg='apt-cache policy failed (exit %d): %s' % (rc, mask_url_userinfo(err.strip())))
    found = parse_policy(out)
    return dict((name, found.get(name, {'installed': None, 'candidate': None})) for name in names)


def update_warnings(stderr):
    """What apt-get update said about repositories it could not read ("W: Failed to fetch ... Temporary
    failure resolving 'proxy'"): it exits 0 then, and their lists stay empty or old."""
    return [line.strip() for line in stderr.splitlines() if line.startswith(('W:', 'E:'))]


def unavailable(packages):
    return [name for name, versions in packages.items() if versions['installed'] is None and versions['candidate'] is None]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str', required=True),
            fail_on_missing=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    names = list(dict.fromkeys(module.params['packages']))
    bad = [name for name in names if not name or name.startswith('-') or any(c.isspace() for c in name)]
    if not names or bad:
        module.fail_json(msg='packages must be a non-empty list of package names without spaces or a leading '
                             '"-", got %r' % (bad or names))
    if module.get_bin_path('apt-cache') is None or module.get_bin_path('apt-get') is None:
        module.fail_json(msg='package_index supports apt only, and this host has no apt-cache/apt-get')

    packages = lookup(module, names)
    refreshed = False
    fetch_failures = []
    if unavailable(packages):
        rc, _out, err = module.run_command(['apt-get', 'update', '-q'], environ_update=C_LOCALE)
        if rc != 0:
            module.fail_json(msg='Reading the package index (apt-get update) failed (exit %d): %s'
                                 % (rc, mask_url_userinfo(err.strip())))
        refreshed = True
        fetch_failures = update_warnings(err)
        packages = lookup(module, names)

    missing = unavailable(packages)
    if missing and module.params['fail_on_missing']:
        if fetch_failures:
            reason = ('apt-get update could not read every repository, so apt may not know it: %s'
                      % ' '.join(fetch_failures))
        else:
            reason = 'no repository in /etc/apt/sources.list or /etc/apt/sources.list.d/ has it'
        module.fail_json(
            msg='No install candidate for %s, even after reading the package index: %s'
                % (', '.join(missing), mask_url_userinfo(reason)),
            refreshed=refreshed, packages=packages)
    module.exit_json(changed=False, refreshed=refreshed, packages=packages)


if __name__ == '__main__':
    main()
