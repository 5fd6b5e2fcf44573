# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Molecule scenarios' testinfra verifiers need from the lab.

The shared Molecule configuration puts tests/lab on PYTHONPATH, so a verifier
does `import labtest` (the lab's description, the fake GitLab's control API,
playbook runs) and `import proxylog` (the proxy's access log).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LAB_DIRECTORY = Path(__file__).resolve().parent
sys.path.insert(0, str(LAB_DIRECTORY / "fakegitlab"))

from client import FakeGitLabControl  # noqa: E402  (after the path is set)

RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)", re.M)


@functools.lru_cache(maxsize=1)
def lab_env() -> dict:
    """The lab's description (`lab env`): proxy, credentials, URLs, CA, registry."""
    output = subprocess.run([str(LAB_DIRECTORY / "bin" / "lab"), "env"], check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def gitlab() -> FakeGitLabControl:
    """A client of the fake GitLab's control API (reachable from the controller only)."""
    return FakeGitLabControl(lab_env()["gitlab"]["control_url"])


def container_address(container: str, network: str) -> str:
    """The IPv4 address of a container on one Docker network."""
    template = "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network
    output = subprocess.run(["docker", "inspect", "-f", template, container], check=True, capture_output=True, text=True)
    return output.stdout.strip()


def basic_proxy_url(password: str | None = None) -> str:
    """The corporate proxy's URL with the lab's Basic credentials (or another password)."""
    env = lab_env()
    secret = env["basic"]["password"] if password is None else password
    return "http://%s:%s@%s:%d" % (env["basic"]["user"], secret, env["proxy"]["host"], env["proxy"]["port"])


def inventory_file() -> str:
    """The scenario's inventory, as Molecule hands it to the verifier."""
    return os.environ["MOLECULE_INVENTORY_FILE"]


def run_playbook(playbook: str, extra_vars: dict | None = None, verbosity: int = 0,
                 check: bool = False, diff: bool = False, tags: str | None = None) -> subprocess.CompletedProcess:
    """Run one of the scenario's playbooks again, against the scenario's inventory.

    Molecule's verifier environment carries the inventory and the Ansible
    configuration of the scenario (MOLECULE_INVENTORY_FILE, ANSIBLE_CONFIG).
    """
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    command = ["ansible-playbook", "-i", inventory_file(), str(scenario / playbook)]
    if verbosity:
        command.append("-" + "v" * verbosity)
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if tags:
        command += ["--tags", tags]
    # Extra variables (tokens among them) go in a file only this user can
    # read, never on a command line.
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="extra-vars-") as variables:
        if extra_vars:
            json.dump(extra_vars, variables)
            variables.flush()
            command += ["--extra-vars", "@" + variables.name]
        return subprocess.run(command, capture_output=True, text=True, check=False)


def run_module(host: str, module: str, arguments: dict) -> dict:
    """Run one module on one host of the scenario's inventory; its result as a dict."""
    command = ["ansible", "-i", inventory_file(), host, "-m", module, "-a", json.dumps(arguments)]
    environment = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    try:
        report = json.loads(completed.stdout)
    except ValueError as error:
        raise AssertionError("no JSON from %s: %s %s" % (" ".join(command[:6]), completed.stdout[-2000:],
                                                         completed.stderr[-2000:])) from error
    return report["plays"][0]["tasks"][0]["hosts"][host]


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counts per host: {'host': {'changed': n, 'failed': n}}."""
    return {match["host"]: {"changed": int(match["changed"]), "failed": int(match["failed"])}
            for match in RECAP_LINE.finditer(output)}
