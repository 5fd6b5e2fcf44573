# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a Docker-in-Docker runner needs in its config.toml entry, behind a proxy.

Plain functions, no Ansible imports. Errors are ValueError with a message
that names the bad value and what is expected.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _proxy_strings

MODES = ("service", "shared")
PLAIN_PORT = 2375
TLS_PORT = 2376
# Where the official dind image writes its certificates when
# DOCKER_TLS_CERTDIR is /certs; jobs read the client's from a volume they
# share with the service.
CERT_DIR = "/certs"
CLIENT_CERT_DIR = "/certs/client"
# Inside a job of a shared daemon, the daemon's own socket (bind-mounted from
# the dind container's file system, seed 003).
JOB_SOCKET_VOLUME = "/var/run/docker.sock:/var/run/docker.sock"
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_RUNNER_KEYS = ("mode", "tls")


def checked_alias(alias):
    """The dind daemons' host name, or ValueError naming the bad value."""
    if not isinstance(alias, str) or not _HOST_NAME.match(alias):
        raise ValueError("alias must be a host name such as docker; got %r" % (alias,))
    return alias


def no_proxy_entries(alias):
    """The service's host name, bare and with both daemon ports."""
    alias = checked_alias(alias)
    return [alias, "%s:%d" % (alias, PLAIN_PORT), "%s:%d" % (alias, TLS_PORT)]


def address_pool(pool, size):
    """The dind daemons' networks: (pool, size, bridge address) from a CIDR and a subnet size."""
    try:
        network = ipaddress.IPv4Network(pool, strict=True)
    except ValueError:
        raise ValueError("address_pool must be an IPv4 network such as 172.31.0.0/16, with its host bits zero; got %r"
                         % (pool,)) from None
    if isinstance(size, bool) or not isinstance(size, int) or not network.prefixlen <= size <= 30:
        raise ValueError("address_pool_size must be a prefix length between %d (the pool's own) and 30; got %r"
                         % (network.prefixlen, size))
    first = next(network.subnets(new_prefix=size))
    return network, size, "%s/%d" % (first.network_address + 1, size)


def url_host(url):
    """The host part of a URL, '' when there is none.

    Read as Go's url.Parse reads it (dockerd, the runner): the user info ends
    at the LAST "@" of the authority, so a password may hold "@".
    """
    try:
        return urllib.parse.urlsplit(url or "").hostname or ""
    except ValueError:
        return ""


def check_pool_avoids(network, addresses):
    """Refuse a pool that holds an address (or a URL's address) the dind daemons must reach on the host."""
    for name, address in addresses.items():
        address = url_host(address) if "://" in (address or "") else address
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue  # a host name: resolved by the container, not routed to dind's bridge
        if ip.version == 4 and ip in network:
            raise ValueError(
                "address_pool %s holds %s, the address of %s: inside dind it would mean dind's own bridge and "
                "jobs would lose it; choose a pool that does not hold it (e.g. 172.31.0.0/16)" % (network, address, name))


def daemon_arguments(mirror, pool, size, bridge, extra):
    arguments = ["--registry-mirror=%s" % mirror] if mirror else []
    arguments += ["--bip=%s" % bridge, "--default-address-pool=base=%s,size=%d" % (pool, size)]
    for argument in extra:
        if not isinstance(argument, str) or not argument.startswith("-"):
            raise ValueError("daemon_args must be dockerd options such as --storage-driver=vfs; got %r" % (argument,))
        arguments.append(argument)
    return arguments


def _runner_options(name, options, default_tls):
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ValueError("runner %r: expected a mapping with mode (service or shared) and tls; got %r" % (name, options))
    unknown = sorted(set(options) - set(_RUNNER_KEYS))
    if unknown:
        raise ValueError("runner %r: unknown keys %s; a dind runner has mode and tls" % (name, ", ".join(unknown)))
    mode = options.get("mode", "service")
    if mode not in MODES:
        raise ValueError("runner %r: mode must be service or shared; got %r" % (name, mode))
    tls = options.get("tls", default_tls)
    if not isinstance(tls, bool):
        raise ValueError("runner %r: tls must be a boolean; got %r" % (name, tls))
    return mode, tls


def runner_additions(runners, image, alias="docker", tls=True, mirror="", pool="172.31.0.0/16", pool_size=24,
                     daemon_args=(), shared_socket="/run/gitlab-dind/docker.sock", avoid=None):
    """For each dind runner by name: what its config.toml entry gets beside the user's own settings.

    Keys of each value: no_proxy (entries for the job's NO_PROXY), environment (job variables),
    pre_build_script (writes the job's Docker client proxies from its own variables at job time),
    services (the dind service, service mode), volumes (added to [runners.docker] volumes) and
    settings ([runners.docker] keys).
    """
    if not isinstance(runners, Mapping):
        raise ValueError("runners must be a mapping of runner name to {mode, tls}; got %r" % (runners,))
    if not isinstance(image, str) or not image:
        raise ValueError("image must be the dind image, such as docker:dind; got %r" % (image,))
    checked_alias(alias)
    if not isinstance(shared_socket, str) or not shared_socket.startswith("/"):
        raise ValueError("shared_socket must be an absolute path; got %r" % (shared_socket,))
    network, size, bridge = address_pool(pool, pool_size)
    check_pool_avoids(network, dict(avoid or {}, **{"the registry mirror": mirror}))
    arguments = daemon_arguments(mirror, str(network), size, bridge, list(daemon_args))
    script = _proxy_strings.docker_proxy_script({}, from_env=True)
    additions = {}
    for name, options in runners.items():
        mode, runner_tls = _runner_options(name, options, tls)
        addition = {"no_proxy": no_proxy_entries(alias), "pre_build_script": script}
        if mode == "service":
            port = TLS_PORT if runner_tls else PLAIN_PORT
            addition["environment"] = {"DOCKER_HOST": "tcp://%s:%d" % (alias, port),
                                       "DOCKER_TLS_CERTDIR": CERT_DIR if runner_tls else ""}
            if runner_tls:
                addition["environment"].update({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": CLIENT_CERT_DIR})
            addition["services"] = [{
                "name": image, "alias": alias, "command": list(arguments),
                "environment": ["DOCKER_TLS_CERTDIR=%s" % (CERT_DIR if runner_tls else "")]}]
            addition["volumes"] = [CLIENT_CERT_DIR] if runner_tls else []
            addition["settings"] = {"docker": {"privileged": True}}
        else:
            addition["environment"] = {}
            addition["services"] = []
            addition["volumes"] = [JOB_SOCKET_VOLUME]
            addition["settings"] = {"docker": {"host": "unix://%s" % shared_socket}}
        additions[name] = addition
    return additions


def shared_daemon_arguments(mirror, pool="172.31.0.0/16", pool_size=24, daemon_args=(),
                            shared_socket="/run/gitlab-dind/docker.sock", avoid=None):
    """dockerd's arguments for the shared daemon: its own socket, the host's socket path, the mirror, the pool."""
    network, size, bridge = address_pool(pool, pool_size)
    check_pool_avoids(network, dict(avoid or {}, **{"the registry mirror": mirror}))
    return (["--host=unix:///var/run/docker.sock", "--host=unix://%s" % shared_socket]
            + daemon_arguments(mirror, str(network), size, bridge, list(daemon_args)))
