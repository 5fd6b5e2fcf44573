# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The full proof on a runner host that site.yml converged with all five roles.

One pipeline's worth of jobs on the real runner (a git clone of the lab's
repository, an HTTP fetch, an image pulled through the mirror, a `docker
build` in Docker-in-Docker whose RUN fetches a file), a pull by dockerd and
the runner service's own polling; then, for each hop, the corp-proxy log
lines that show it went through cntlm as the configured NTLM user (or, for
dind -> mirror, which never meets the proxy, the mirror's own log). The
default scenario asserts it; `make demo` prints it as its report.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass, field

import labtest
import proxylog

# Where the default shape's runner host keeps what the report looks at.
CONFIG = "/etc/gitlab-runner/config.toml"
MIRROR_UNIT = "docker-registry"
DIND_RUNNER_TAG = "dind-service"


@dataclass
class Hop:
    """One hop of the proof: what was tried, and the log lines that show how it went."""

    name: str
    tried: str
    lines: list[str] = field(default_factory=list)
    users: set = field(default_factory=set)
    problem: str = ""

    @property
    def proven(self) -> bool:
        return not self.problem and bool(self.lines)


def host_exec(container: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    """A shell command on the runner host (a container of the lab)."""
    return subprocess.run(["docker", "exec", container, "sh", "-c", command], capture_output=True, text=True,
                          check=check, timeout=600)


def passed(entry: proxylog.ProxyLogEntry) -> bool:
    """Whether corp-proxy let a request through (not refused, not failed on its side)."""
    return entry.status not in (403, 407) and entry.status < 500


def line_of(entry: proxylog.ProxyLogEntry) -> str:
    """An access log entry as a reader wants to see it: who asked for what, the answer, as whom."""
    return f"{entry.client} {entry.method} {entry.url} -> {entry.status} as {entry.user or '-'}"


def pipeline_script(lab: dict) -> list[str]:
    """The job: fetch a file, pull an image through the mirror, build an image whose RUN fetches a file."""
    # Two files, so that the job's fetch and the build's tell apart in the log (squid logs no
    # query string); curl writes a file that sha256sum then reads: a pipe would hide curl's
    # failure (RUN has no pipefail).
    file_url, build_url = lab["files"]["test_file_url"], lab["ca_url"]
    return [
        f"curl -fsS -o fetched '{file_url}' && sha256sum fetched",
        "docker pull busybox",
        f"printf 'FROM docker:cli\\nRUN curl -fsS -o /fetched \"{build_url}\" && sha256sum /fetched\\n' > Dockerfile",
        "docker build --no-cache -t proof/built .",
    ]


def proxy_hop(name: str, tried: str, entries: list, predicate, wanted_user: str) -> Hop:
    """A hop proven by corp-proxy's log: requests that passed, as the NTLM user alone (an NTLM
    handshake's first request is logged as a 407 without a user: it proves nothing either way)."""
    matching = [entry for entry in entries if predicate(entry)]
    went_through = [entry for entry in matching if passed(entry)]
    hop = Hop(name, tried, [line_of(entry) for entry in went_through], {entry.user for entry in went_through})
    if not matching:
        hop.problem = "corp-proxy logged no such request"
    elif not went_through:
        hop.problem = "corp-proxy refused every such request"
    elif hop.users != {wanted_user}:
        hop.problem = f"corp-proxy logged it as {', '.join(sorted(str(user) for user in hop.users))}, not {wanted_user}"
    return hop


def run_pipeline(container: str, timeout: int = 420) -> tuple[dict, list[Hop]]:
    """Run the proof's traffic on `container` and read each hop's evidence: (the job's result, the hops)."""
    lab = labtest.lab_env()
    user = lab["ntlm"]["logged_as"]
    gitlab = labtest.gitlab()
    file_url, build_url = lab["files"]["test_file_url"], lab["ca_url"]
    mirror_cursor = journal_cursor(container, MIRROR_UNIT)
    mark = proxylog.mark()

    pulled = host_exec(container, f"docker pull -q {shlex.quote(lab['registry']['image'])}", check=False)
    job = gitlab.queue_job(pipeline_script(lab), repo_url=lab["git"]["url"], tags=[DIND_RUNNER_TAG])
    result = gitlab.wait_for_job_result(job, timeout=timeout)
    git_host = lab["git"]["url"].split("/")[2]
    gitlab_host = lab["gitlab"]["http_url"].split("/")[2]
    predicates = {
        "runner service -> GitLab": lambda entry: entry.host == gitlab_host and "/api/v4/jobs/request" in entry.url,
        "dockerd -> registry": lambda entry: entry.host == lab["registry"]["name"],
        "mirror -> upstream": lambda entry: entry.host == lab["registry"]["account"]["name"],
        "job -> git": lambda entry: entry.host == git_host,
        "job -> files": lambda entry: entry.url == file_url,
        "dind build -> files": lambda entry: entry.url == build_url,
    }
    entries = passed_entries(mark, predicates.values(), timeout=proxylog.TUNNEL_LINE_WAIT)

    tried = {
        "runner service -> GitLab": "the service polls POST /api/v4/jobs/request",
        "dockerd -> registry": f"docker pull {lab['registry']['image']} on the host",
        "mirror -> upstream": f"the mirror fetches busybox from {lab['registry']['account']['name']}",
        "job -> git": f"the job's helper clones {lab['git']['url']}",
        "job -> files": f"the job runs curl on {file_url}",
        "dind build -> files": f"RUN curl on {build_url} inside docker build on the dind service",
    }
    hops = [proxy_hop(name, tried[name], entries, predicate, user) for name, predicate in predicates.items()]
    hops.append(mirror_hop(container, mirror_cursor))
    if pulled.returncode != 0:
        hops[1].problem = f"docker pull failed: {pulled.stderr.strip()[-300:]}"
    if result.get("status") != "success":
        for hop in hops[2:]:
            hop.problem = hop.problem or f"the job ended {result.get('status')}"
    return result, hops


def passed_entries(mark, predicates, timeout: float) -> list:
    """The log since `mark`, once every predicate matches a request that passed, or at `timeout`.

    squid logs a request when it ends, a CONNECT tunnel when it closes: the
    mirror keeps its tunnel to the upstream open for a while after a pull.
    """
    deadline = time.monotonic() + timeout
    while True:
        entries = proxylog.entries_since(mark)
        went_through = [entry for entry in entries if passed(entry)]
        if all(any(predicate(entry) for entry in went_through) for predicate in predicates) or time.monotonic() > deadline:
            return entries
        time.sleep(2)


def journal_cursor(container: str, unit: str) -> str:
    """The journal cursor of `unit` on `container` now ("" when the unit has logged nothing yet)."""
    shown = host_exec(container, f"journalctl -u {unit} -n 1 -q -o cat --show-cursor", check=False).stdout
    cursors = [line for line in shown.splitlines() if line.startswith("-- cursor: ")]
    return cursors[-1][len("-- cursor: "):] if cursors else ""


def mirror_hop(container: str, cursor: str) -> Hop:
    """dind -> mirror: the dind daemon's pull reached the mirror directly (its own log, not the proxy's)."""
    after = f"--after-cursor={shlex.quote(cursor)}" if cursor else ""
    logged = host_exec(container, f"journalctl -u {MIRROR_UNIT} -q -o cat --no-pager {after}", check=False).stdout
    lines = [line.strip() for line in logged.splitlines() if "/v2/library/busybox/manifests/" in line]
    hop = Hop("dind -> mirror", "docker pull busybox inside the job's dind service", lines[-3:], {"(direct)"})
    if not lines:
        hop.problem = "the mirror logged no request for busybox's manifest"
    return hop


def shortened(line: str, width: int = 150) -> str:
    """A log line cut to `width` characters (the registry's lines run to a thousand)."""
    return line if len(line) <= width else line[:width - 3] + "..."


def report(hops: list[Hop]) -> str:
    """The hops as a table a newcomer reads in seconds."""
    rows = []
    for hop in hops:
        verdict = "proven" if hop.proven else f"NOT PROVEN: {hop.problem}"
        rows.append(f"  {hop.name:<22} {verdict}")
        rows.append(f"      tried: {hop.tried}")
        for line in hop.lines[:2]:
            rows.append(f"      log:   {shortened(line)}")
    return "\n".join(rows)


# The seven places of a runner host (docs/architecture.md), how the report
# sees whether each is configured, and the hops whose traffic proves it.
PLACES = [
    ("cntlm", "systemctl is-active -q cntlm && test -s /etc/cntlm.conf",
     ["runner service -> GitLab", "dockerd -> registry", "mirror -> upstream", "job -> git", "job -> files"]),
    ("dockerd", "systemctl show --property=Environment docker | grep -q HTTPS_PROXY=", ["dockerd -> registry"]),
    ("gitlab-runner service", "systemctl show --property=Environment gitlab-runner | grep -q HTTPS_PROXY=",
     ["runner service -> GitLab"]),
    ("config.toml [[runners]]", f"grep -q HTTPS_PROXY= {CONFIG} && grep -q pre_get_sources_script {CONFIG}",
     ["job -> git", "job -> files"]),
    ("Docker-in-Docker", f"grep -q 'docker:2375' {CONFIG} && grep -q pre_build_script {CONFIG}",
     ["dind build -> files", "dind -> mirror"]),
    ("registry mirror", "systemctl is-active -q docker-registry && grep -q registry-mirrors /etc/docker/daemon.json",
     ["mirror -> upstream", "dind -> mirror"]),
    # Every runner of config.toml has the token its registration got (the
    # runner's `list` output is no stable interface to read).
    ("GitLab API (registration)",
     "python3 -c \"import sys, tomllib; runners = tomllib.load(open(sys.argv[1], 'rb')).get('runners', []); "
     f"sys.exit(0 if runners and all(r.get('token') for r in runners) else 1)\" {CONFIG}",
     ["registration -> GitLab"]),
]


def registration_hop(entries: list, gitlab_host: str, user: str) -> Hop:
    """runner registration -> GitLab: the converge's API calls (read from entries logged during it)."""
    return proxy_hop("registration -> GitLab", "runner_register calls the runner API during site.yml", entries,
                     lambda entry: entry.host == gitlab_host and "/api/v4/runners" in entry.url, user)


def places_report(container: str, hops: list[Hop]) -> tuple[bool, str]:
    """Each of the seven places: configured or not, proven by which traffic, as which proxy user."""
    by_name = {hop.name: hop for hop in hops}
    rows, all_good = [], True
    for number, (place, check, proving) in enumerate(PLACES, start=1):
        configured = host_exec(container, check, check=False).returncode == 0
        proofs = [by_name[name] for name in proving if name in by_name]
        proven = bool(proofs) and all(hop.proven for hop in proofs)
        all_good = all_good and configured and proven
        users = sorted({str(user) for hop in proofs for user in hop.users})
        rows.append(f"  {number}. {place:<26} {'configured' if configured else 'NOT CONFIGURED':<15}"
                    f"{'proven by ' + ', '.join(hop.name for hop in proofs) if proven else 'NOT PROVEN'}"
                    f"{' (as ' + ', '.join(users) + ')' if proven else ''}")
    return all_good, "\n".join(rows)
