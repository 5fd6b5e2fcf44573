# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The collection's proxy and cntlm filters.

Thin wrappers: the logic lives in module_utils (_proxy_strings, _ntlm_hashes, _proxy_plan)
so that modules can reuse it. Each filter's documentation is in the YAML
file of the same name beside this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _masking
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _ntlm_hashes
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _proxy_plan
from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _proxy_strings

display = Display()


def docker_proxy_script(proxies, from_env=False, path=_proxy_strings.DEFAULT_DOCKER_CONFIG_PATH):
    try:
        return _proxy_strings.docker_proxy_script(proxies, from_env=from_env, path=path)
    except ValueError as error:
        raise AnsibleFilterError("docker_proxy_script: %s" % error) from None


def proxy_env(proxies, as_dict=False):
    try:
        if as_dict:
            return _proxy_strings.proxy_environment(proxies)
        return _proxy_strings.proxy_env_list(proxies)
    except ValueError as error:
        raise AnsibleFilterError("proxy_env: %s" % error) from None


def no_proxy(entries, *more, normalize=False):
    try:
        value, warnings = _proxy_strings.merge_no_proxy(entries, *more, normalize=normalize)
    except ValueError as error:
        raise AnsibleFilterError("no_proxy: %s" % error) from None
    # A filter has no result to attach warnings to: Display shows them to the
    # user like any other warning of the play.
    for warning in warnings:
        display.warning("no_proxy: %s" % warning)
    return value


def cntlm_hashes(password, username, domain="", version="0.92.3"):
    # Errors never echo the password, and "from None" keeps it out of tracebacks.
    try:
        hashes = _ntlm_hashes.cntlm_hashes(password, username, domain, version)
    except ValueError as error:
        raise AnsibleFilterError("cntlm_hashes: %s" % error) from None
    if _ntlm_hashes.password_is_cut(password):
        display.warning(
            "cntlm_hashes: the password for %r is longer than %d bytes; cntlm -H hashes only the first %d, "
            "and so does this filter: the proxy will reject these hashes unless it does the same"
            % (username, _ntlm_hashes.CNTLM_INPUT_LIMIT, _ntlm_hashes.CNTLM_INPUT_LIMIT))
    return hashes


def proxy_plan(statement, docker0=""):
    try:
        plan, warnings = _proxy_plan.proxy_plan(statement, docker0=docker0)
    except ValueError as error:
        # The messages name keys and values but never the password.
        raise AnsibleFilterError("proxy_plan: %s" % error) from None
    for warning in warnings:
        display.warning("proxy_plan: %s" % warning)
    return plan


def proxy_credentials(value):
    # The URL reading of the masking code (user info up to the last "@", a
    # proxy without a scheme read as http://), so that what is kept out of
    # logs and what is written 0600 are decided alike.
    return bool(_masking.secret_values(value, ()))


def cntlm_config_problems(values, plaintext_password=False):
    try:
        return _proxy_plan.cntlm_config_problems(values, plaintext_password=plaintext_password)
    except ValueError as error:
        raise AnsibleFilterError("cntlm_config_problems: %s" % error) from None


class FilterModule:
    """Proxy and cntlm filters of behindproxy.gitlab_runner."""

    def filters(self):
        return {
            "docker_proxy_script": docker_proxy_script,
            "proxy_env": proxy_env,
            "no_proxy": no_proxy,
            "cntlm_hashes": cntlm_hashes,
            "proxy_plan": proxy_plan,
            "cntlm_config_problems": cntlm_config_problems,
            "proxy_credentials": proxy_credentials,
        }
