# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The full proof on a host converged by site.yml from one statement of the proxy.

One pipeline's worth of jobs on the real gitlab-runner 19.4.0, and for each
hop the corp-proxy log line that shows it went through cntlm as the
configured NTLM user (tests/lab/proof.py, which `make demo` prints). Then a
control: the same jobs on a runner without what the collection adds for the
proxy fail, each for the reason expected.
"""

import hashlib
import json
import time
from pathlib import Path

import labtest
import proof

LAB = labtest.lab_env()
HOST = "behindproxy-default-host"
FILE_SHA256 = LAB["files"]["test_file_sha256"]
# The build's RUN fetches the lab CA's certificate (files.lab.test serves it).
CA_SHA256 = hashlib.sha256(Path(LAB["ca_file"]).read_bytes()).hexdigest()
CONTROL = "control"
# What the collection adds to a runner's entry for the proxy; the control has none of it.
PROXY_KEYS = ("pre_get_sources_script", "pre_clone_script", "pre_build_script")
PROXY_VARIABLES = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}


def runner_entries(host):
    script = "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb')), default=str))"
    document = json.loads(host.check_output(f"python3 -c \"{script}\" {proof.CONFIG}"))
    return {entry["name"]: entry for entry in document.get("runners", [])}


def test_one_pipeline_goes_through_cntlm_as_the_ntlm_user_at_every_hop(host):
    result, hops = proof.run_pipeline(HOST)
    report = proof.report(hops)
    assert result["status"] == "success", result.get("trace", "")[-4000:] + "\n" + report
    # The job's own fetch and the build's RUN fetch each got its file.
    assert FILE_SHA256 in result["trace"] and CA_SHA256 in result["trace"], result["trace"][-4000:]
    assert [hop.name for hop in hops if not hop.proven] == [], report
    names = {hop.name for hop in hops}
    assert names == {"runner service -> GitLab", "dockerd -> registry", "mirror -> upstream", "job -> git",
                     "job -> files", "dind build -> files", "dind -> mirror"}


def control_settings(entry):
    """The dind-service runner's docker settings and variables, without any of the proxy's."""
    environment = [item for item in entry.get("environment", []) if item.split("=", 1)[0] not in PROXY_VARIABLES]
    return {"docker": entry["docker"]}, environment


def run_control_jobs(jobs):
    """Queue every job of `jobs` ({name: (script, repo_url)}) on the control runner at once
    (it runs two at a time, as `concurrent` says); each one's result by name."""
    gitlab = labtest.gitlab()
    queued = {name: gitlab.queue_job(script, repo_url=repo_url, tags=[CONTROL])
              for name, (script, repo_url) in jobs.items()}
    return {name: gitlab.wait_for_job_result(job, timeout=300) for name, job in queued.items()}


def test_the_same_jobs_on_a_runner_without_the_proxy_settings_fail_each_for_its_reason(host):
    entry = runner_entries(host)[proof.DIND_RUNNER_TAG]
    settings, environment = control_settings(entry)
    control = {"name": CONTROL, "url": LAB["gitlab"]["http_url"], "tags": [CONTROL],
               "registration_token": "GR1348941lab-registration-token",
               "settings": settings, "environment": environment}
    registered = labtest.run_playbook("control-runner.yml", {"lab_control": control})
    assert registered.returncode == 0, registered.stdout[-3000:]
    try:
        written = runner_entries(host)[CONTROL]
        assert not set(written) & set(PROXY_KEYS), written
        assert not {item.split("=", 1)[0] for item in written.get("environment", [])} & PROXY_VARIABLES, written
        time.sleep(4)  # the runner rereads config.toml every 3 s
        script = proof.pipeline_script(LAB)
        results = run_control_jobs({"clone": (["true"], LAB["git"]["url"]), "fetch": ([script[0]], None),
                                    "pull": ([script[1]], None), "build": (script[2:], None)})
    finally:
        removed = labtest.run_playbook("control-runner.yml", {"lab_control": dict(control, state="absent")})
        assert removed.returncode == 0, removed.stdout[-3000:]
    clone, fetch, pull, build = (results[name] for name in ("clone", "fetch", "pull", "build"))
    git_host = LAB["git"]["url"].split("/")[2]
    file_host = LAB["files"]["url"].split("/")[2]
    # Job containers reach nothing outside the corp network but through the
    # proxy; without it the names of the outside do not even resolve.
    assert clone["status"] == "failed" and f"Could not resolve host: {git_host}" in clone["trace"], clone["trace"][-3000:]
    assert fetch["status"] == "failed" and f"Could not resolve host: {file_host}" in fetch["trace"], fetch["trace"][-3000:]
    assert build["status"] == "failed" and f"Could not resolve host: {file_host}" in build["trace"], build["trace"][-3000:]
    # The pull still works: the dind daemon reaches the mirror directly, and
    # only the mirror needs the proxy (the dind -> mirror hop of the proof).
    assert pull["status"] == "success", pull["trace"][-3000:]
