# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the lab proxy's access log, for testinfra verifiers and lab tests.

The proxy (tests/lab/images/lab-proxy/squid.conf, log format `behindproxy`)
writes one line per request, fields separated by single spaces:

    time client method url status user elapsed_ms bytes result/hierarchy

with the URL (query string stripped) and the user URL-encoded, so neither
contains a space, and "-" for a request without accepted credentials.

Scenarios may run side by side on the one lab (`make molecule`): a mark
taken inside a scenario's verifier (MOLECULE_INVENTORY_FILE set) holds the
addresses of that scenario's hosts, and the entries since it are those
requests only. A host's own clients, cntlm, the mirror and its containers
(through docker0's NAT) all reach the proxy from the host's address.

Typical use in a verifier:

    mark = proxylog.mark()
    host.run("curl ...")
    entries = proxylog.wait_for(lambda e: e.status == 200 and e.user == "LAB\\\\runner", since=mark)
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
from dataclasses import dataclass

import yaml

PROXY_CONTAINER = "behindproxy-lab-proxy"
ACCESS_LOG = "/var/log/squid/access.log"
FIELD_COUNT = 9
# Squid writes a CONNECT's line when the tunnel closes, and a Go client (dockerd,
# the registry mirror) keeps an idle tunnel open for up to 90 s: how long to wait
# for the line of a request made through a tunnel.
TUNNEL_LINE_WAIT = 150.0


class ProxyLogError(Exception):
    """The log could not be read or a line does not have the lab's format."""


@dataclass(frozen=True)
class ProxyLogEntry:
    """One request as the proxy saw it."""

    time: float
    client: str
    method: str
    url: str
    status: int
    user: str | None
    elapsed_ms: int
    bytes: int
    result: str

    @property
    def host(self) -> str:
        """The destination host name: from the URL, or host:port of a CONNECT."""
        if self.method == "CONNECT":
            return self.url.rpartition(":")[0]
        return urllib.parse.urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class LogMark:
    """A position in the access log; entries after it are 'since' the mark."""

    offset: int
    time: float
    # The addresses whose requests count (None: every client's).
    clients: frozenset[str] | None = None


def parse_line(line: str) -> ProxyLogEntry:
    """One log line to an entry; ProxyLogError names the line and what is wrong."""
    fields = line.rstrip("\n").split(" ")
    if len(fields) != FIELD_COUNT:
        raise ProxyLogError("proxy log line has %d fields, expected %d "
                            "(time client method url status user elapsed_ms bytes result): %r"
                            % (len(fields), FIELD_COUNT, line))
    stamp, client, method, url, status, user, elapsed, size, result = fields
    try:
        return ProxyLogEntry(
            time=float(stamp),
            client=client,
            method=method,
            url=urllib.parse.unquote(url),
            status=int(status),
            user=None if user == "-" else urllib.parse.unquote(user),
            elapsed_ms=int(elapsed),
            bytes=int(size),
            result=result,
        )
    except ValueError as error:
        raise ProxyLogError("proxy log line has a malformed number (%s): %r" % (error, line)) from error


def parse_log(text: str) -> list[ProxyLogEntry]:
    """All complete lines of a log excerpt; a last line without newline is still being written."""
    lines = text.split("\n")
    return [parse_line(line) for line in lines[:-1] if line]


def _docker_exec(container: str, *command: str) -> bytes:
    result = subprocess.run(["docker", "exec", container, *command], capture_output=True, check=False)
    if result.returncode != 0:
        raise ProxyLogError("reading %s in container %s failed: %s"
                            % (ACCESS_LOG, container, result.stderr.decode(errors="replace").strip()))
    return result.stdout


def inventory_hosts(inventory: dict) -> set[str]:
    """Every host name of an Ansible YAML inventory (all its groups, nested or at the top)."""
    names, groups = set(), [group for group in inventory.values() if isinstance(group, dict)]
    while groups:
        group = groups.pop() or {}
        names.update(group.get("hosts") or {})
        groups.extend((group.get("children") or {}).values())
    return names


def scenario_clients() -> frozenset[str] | None:
    """The addresses of the running Molecule scenario's hosts (containers named as in its
    inventory), on every network; None outside a scenario."""
    inventory_file = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory_file:
        return None
    with open(inventory_file, encoding="utf-8") as stream:
        names = sorted(inventory_hosts(yaml.safe_load(stream) or {}))
    addresses = set()
    for name in names:
        inspected = subprocess.run(["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", name],
                                   capture_output=True, text=True, check=False)
        if inspected.returncode == 0:
            addresses.update(network["IPAddress"] for network in json.loads(inspected.stdout).values()
                             if network.get("IPAddress"))
    return frozenset(addresses)


def mark(container: str = PROXY_CONTAINER) -> LogMark:
    """The current end of the log: pass it to entries_since() or wait_for().
    Inside a scenario, only its own hosts' requests count after it."""
    size = int(_docker_exec(container, "stat", "-c", "%s", ACCESS_LOG).decode().strip())
    return LogMark(offset=size, time=time.time(), clients=scenario_clients())


def read_entries(container: str = PROXY_CONTAINER) -> list[ProxyLogEntry]:
    """Every entry of the log."""
    return parse_log(_docker_exec(container, "cat", ACCESS_LOG).decode())


def entries_since(since: LogMark, container: str = PROXY_CONTAINER) -> list[ProxyLogEntry]:
    """The entries written after the mark (the whole log if it was truncated since), of the
    mark's clients only."""
    raw = _docker_exec(container, "cat", ACCESS_LOG)
    start = since.offset if since.offset <= len(raw) else 0
    entries = parse_log(raw[start:].decode())
    if since.clients is None:
        return entries
    return [entry for entry in entries if entry.client in since.clients]


def wait_for(predicate, since: LogMark, timeout: float = 10.0, container: str = PROXY_CONTAINER,
             interval: float = 0.2) -> list[ProxyLogEntry]:
    """The entries since the mark that match predicate, once there is at least one.

    The proxy writes an entry when a request ends, so a verifier that has
    just made a request may have to wait a moment for it to appear.
    """
    deadline = time.monotonic() + timeout
    while True:
        entries = entries_since(since, container)
        matching = [entry for entry in entries if predicate(entry)]
        if matching:
            return matching
        if time.monotonic() >= deadline:
            raise ProxyLogError("no matching proxy log entry within %.1fs; entries since the mark:\n%s"
                                % (timeout, "\n".join(repr(entry) for entry in entries) or "(none)"))
        time.sleep(interval)
