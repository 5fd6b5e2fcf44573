# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake GitLab API for the lab: the runner endpoints and the runners API, nothing else.

It is a test fixture, not GitLab. It speaks the request and response shapes
the runner and the collection's modules use (GitLab's REST API for runners),
accepts only tokens it issued itself, and has a second port (the control API) through which the
test controller queues jobs, reads results and the request log, switches on
429 answers and sets the token lifetime. Standard library only: it runs with
Debian's python3 inside the lab's internet container.

Besides the runner-facing calls it has the user-facing runners API that
tools use with an access token (`PRIVATE-TOKEN`): `POST /user/runners`
(scope create_runner), `GET /runners/:id` (read_api, manage_runner or api),
`PUT` and `DELETE /runners/:id` (manage_runner or api); 401 for a token it
does not know, 403 for one without the scope, 404 for a runner that is gone.

The job protocol is the one the real gitlab-runner 19.4.0 speaks, read from
its source (module gitlab.com/gitlab-org/gitlab-runner, VERSION 19.4.0):

- network/gitlab.go: which status each call expects (register 201, verify
  200, unregister and managers 204, reset_authentication_token 201,
  jobs/request 201 with a job / 204 without, job update 200 = done, 202 =
  accepted but not completed (the runner waits X-GitLab-Trace-Update-Interval
  and sends the final update again), 412 = trace validation failed (the runner
  re-sends the trace from 0), 403/404 = abort); the trace PATCH sends
  `Content-Range: <start>-<start+len-1>` (inclusive end) with `JOB-TOKEN`
  and `?debug_trace=`, and takes 202 as success and 416 as "range mismatch";
  `features` the client itself announces (trace_reset, trace_checksum,
  trace_size, cancelable, cancel_gracefully, two_phase_job_commit, job_inputs).
- network/patch_response.go, network/remote_job_state_response.go: after a
  416 the runner continues from the END of our `Range: 0-<size>` header;
  `Job-Status: canceling` asks for a graceful cancel, `canceled` or `failed`
  (or any 403) aborts the job; `X-GitLab-Trace-Update-Interval` is seconds.
- network/trace.go: the final update loop (send all trace, then PUT the state
  with `output.checksum` = "crc32:<8 hex>" (IEEE, of all bytes sent) and
  `output.bytesize`, until 200); a running job is "touched" with PUT
  state=running when no trace was sent for a while.
- network/client.go: `X-GitLab-Last-Update` of any answer is echoed back as
  `last_update` in the next jobs/request (GitLab Workhorse's long polling).
- common/network.go (request and response types, FeaturesInfo) and
  common/spec/spec.go (the job payload: Job, JobInfo, GitInfo, RunnerInfo,
  Step, Image, Variable, Credentials, GitlabFeatures; `image` is a struct, so
  null is ignored; `exit_code` is `omitempty`, so a success sends none).
- shells/abstract.go: sources are fetched with `git fetch origin <refspecs>
  --depth N` from git_info.repo_url (used as is, credentials included, see
  helpers/url/gitauth.go) and checked out with `git checkout <sha>`; the sha
  must be a real commit id (the runner prints sha[0:8]), so the fake resolves
  the ref to a commit when a job is queued (see resolve_sha).
- tests/unit/lab/test_fakegitlab_real_runner.py runs the real runner built
  from that source (tests/lab/runner/build-runner) against this server.
- common/build.go: variables the runner makes itself (CI_PROJECT_DIR,
  CI_BUILDS_DIR, CI_SERVER_TLS_CA_FILE, CI_JOB_STATUS, ...), so the fake
  does not send them; commands/multi.go: token rotation at 75 % of
  token_expires_at - token_obtained_at.
"""

from __future__ import annotations

import argparse
import copy
import email.utils
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAB_REGISTRATION_TOKEN = "GR1348941lab-registration-token"
LAB_PERSONAL_ACCESS_TOKEN = "glpat-lab-personal-access-token"
RATE_LIMIT_MODES = ("reset-time", "invalid-reset-time", "none", "retry-after")
RUNNER_TYPES = ("instance_type", "group_type", "project_type")
ACCESS_LEVELS = ("not_protected", "ref_protected")
# What PUT /runners/:id accepts (GitLab's API; `active` is the deprecated opposite of `paused`).
RUNNER_UPDATE_FIELDS = ("description", "active", "paused", "tag_list", "run_untagged", "locked", "access_level",
                        "maximum_timeout", "maintenance_note")
# GitLab refuses a runner's maximum_timeout below ten minutes.
MINIMUM_MAXIMUM_TIMEOUT = 600
REDACTED_HEADERS = ("private-token", "runner-token", "job-token", "authorization")
REQUEST_LOG_LIMIT = 10000
DEFAULT_JOB_TIMEOUT = 3600
# GitLab's default GIT_DEPTH for new projects.
DEFAULT_GIT_DEPTH = 20
# What the fake says a job's project is; GitLab would send the real ones.
PROJECT_ID = 1
PROJECT_NAME = "lab"
PROJECT_PATH = "lab/lab"
# The lab's bare repository in the internet container (images/lab-internet).
DEFAULT_GIT_REPOSITORY = "/srv/git/lab.git"
# Sent as git_info.sha when the ref could not be resolved: the runner then fails
# the job at `git checkout`, with a clear message, instead of crashing on an empty sha.
ZERO_SHA = "0" * 40
SHA_PATTERN = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Seconds; GitLab sends 60 for a trace nobody watches and 3 while someone does.
DEFAULT_TRACE_UPDATE_INTERVAL = 3
# A final update that announces more trace than arrived is answered 202 ("accepted,
# not yet completed") this many times, then accepted as it is (GitLab gives up too).
INCOMPLETE_TRACE_ACCEPTS = 5
# Jobs the runner is still working on, in GitLab's words ("processing on runner").
PROCESSING_STATES = ("running", "canceling")
# What GitLab's Ci::Build accepts as failure_reason (a subset: the runner-facing ones).
GITLAB_FAILURE_REASONS = [
    "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure", "runner_system_failure",
    "missing_dependency_failure", "runner_unsupported", "job_execution_timeout", "archived_failure",
    "unmet_prerequisites", "scheduler_failure", "data_integrity_failure", "trace_size_exceeded",
    "image_pull_failure",
]
# The runner manager GitLab counts a request without system_id for (API::Ci::Helpers::Runner).
LEGACY_SYSTEM_ID = "<legacy>"
TOKEN_MASK_PREFIXES = ["glpat-", "glrt-", "glcbt-", "gldt-", "glptt-", "glft-", "GR1348941"]


class ApiError(Exception):
    """An answer other than success, with the GitLab-style message body and optional headers."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def iso8601(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def rate_limit_headers(mode, seconds, now):
    """The headers of a 429 answer in the given mode (GitLab sends RFC 1123 dates)."""
    if mode == "reset-time":
        return {"RateLimit-ResetTime": email.utils.formatdate(now + seconds, usegmt=True)}
    if mode == "invalid-reset-time":
        return {"RateLimit-ResetTime": "not-a-date"}
    if mode == "retry-after":
        return {"Retry-After": str(int(seconds))}
    return {}


def redact_headers(headers):
    return {
        name: ("[REDACTED]" if name.lower() in REDACTED_HEADERS else value)
        for name, value in headers.items()
    }


def trace_checksum(data):
    """The runner's trace checksum (helpers/trace/buffer.go): CRC-32 (IEEE) of every byte."""
    return "crc32:%08x" % (zlib.crc32(bytes(data)) & 0xFFFFFFFF)


def ref_slug(ref):
    """CI_COMMIT_REF_SLUG: lower case, [a-z0-9] kept, the rest '-', at most 63 characters."""
    return re.sub(r"[^a-z0-9]", "-", ref.lower())[:63].strip("-")


def local_repository_path(repo_url):
    """The directory of a repository given as a path or file:// URL, else None."""
    if not repo_url:
        return None
    if repo_url.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlsplit(repo_url).path)
    if repo_url.startswith("/"):
        return repo_url
    return None


def resolve_sha(repository, ref, ref_type="branch"):
    """The commit id `ref` names in the (bare) repository at `repository`, or None.

    The lab's repository belongs to www-data and the fake runs as root, so git's
    ownership check is switched off for this one command (command-line config is
    "protected" configuration, which git >= 2.38 honours for safe.directory).
    """
    if not repository or not os.path.isdir(repository):
        return None
    if ref.startswith("refs/"):
        candidates = [ref]
    elif ref_type == "tag":
        candidates = ["refs/tags/" + ref]
    else:
        candidates = ["refs/heads/" + ref, "refs/tags/" + ref]
    for candidate in candidates:
        try:
            completed = subprocess.run(
                ["git", "-c", "safe.directory=*", "--git-dir", repository, "rev-parse", "--verify", "--quiet",
                 candidate + "^{commit}"],
                capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        sha = completed.stdout.strip()
        if completed.returncode == 0 and SHA_PATTERN.fullmatch(sha):
            return sha
    return None


def with_job_credentials(repo_url, job_token):
    """repo_url with `gitlab-ci-token:<job token>@` in it, as GitLab sends it (HTTP(S) URLs only)."""
    parts = urllib.parse.urlsplit(repo_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return repo_url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(
        (parts.scheme, "gitlab-ci-token:%s@%s" % (job_token, host), parts.path, parts.query, parts.fragment))


def same_host(url, other):
    """Whether two URLs name the same host and port (default ports filled in)."""
    def address(value):
        parts = urllib.parse.urlsplit(value)
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            return None
        return (parts.hostname or "").lower(), port
    first = address(url)
    return first is not None and first[0] != "" and first == address(other)


def _variable(key, value, public=True, masked=False):
    return {"key": key, "value": value, "public": public, "masked": masked}


def predefined_variables(job, server_url, repo_url):
    """The CI_* variables GitLab sends that matter to a runner and a job (not those the runner sets itself)."""
    spec = job["spec"]
    ref = spec.get("ref") or "main"
    ref_type = spec.get("ref_type") or "branch"
    server = urllib.parse.urlsplit(server_url)
    port = server.port or (443 if server.scheme == "https" else 80)
    runner = job.get("runner") or {}
    variables = [
        _variable("CI", "true"),
        _variable("GITLAB_CI", "true"),
        _variable("CI_SERVER_URL", server_url),
        _variable("CI_SERVER_HOST", server.hostname or ""),
        _variable("CI_SERVER_PORT", str(port)),
        _variable("CI_SERVER_PROTOCOL", server.scheme),
        _variable("CI_SERVER_NAME", "GitLab"),
        _variable("CI_API_V4_URL", server_url + "/api/v4"),
        _variable("CI_JOB_ID", str(job["id"])),
        _variable("CI_JOB_URL", "%s/%s/-/jobs/%d" % (server_url, PROJECT_PATH, job["id"])),
        _variable("CI_JOB_TOKEN", job["token"], public=False, masked=True),
        _variable("CI_JOB_NAME", spec.get("name") or "lab-job"),
        _variable("CI_JOB_STAGE", spec.get("stage") or "test"),
        _variable("CI_PIPELINE_ID", str(job["id"])),
        _variable("CI_PIPELINE_IID", str(job["id"])),
        _variable("CI_PIPELINE_SOURCE", "push"),
        _variable("CI_PROJECT_ID", str(PROJECT_ID)),
        _variable("CI_PROJECT_NAME", PROJECT_NAME),
        _variable("CI_PROJECT_PATH", PROJECT_PATH),
        _variable("CI_PROJECT_PATH_SLUG", ref_slug(PROJECT_PATH)),
        _variable("CI_PROJECT_NAMESPACE", PROJECT_PATH.rpartition("/")[0]),
        _variable("CI_PROJECT_URL", "%s/%s" % (server_url, PROJECT_PATH)),
        _variable("CI_PROJECT_VISIBILITY", "internal"),
        _variable("CI_DEFAULT_BRANCH", "main"),
        _variable("CI_REPOSITORY_URL", repo_url, public=False),
        _variable("CI_COMMIT_SHA", job["sha"]),
        _variable("CI_COMMIT_SHORT_SHA", job["sha"][:8]),
        _variable("CI_COMMIT_BEFORE_SHA", spec.get("before_sha") or ZERO_SHA),
        _variable("CI_COMMIT_REF_NAME", ref),
        _variable("CI_COMMIT_REF_SLUG", ref_slug(ref)),
        _variable("CI_COMMIT_REF_PROTECTED", "false"),
        _variable("CI_RUNNER_ID", str(runner.get("id", ""))),
        _variable("CI_RUNNER_DESCRIPTION", runner.get("description", "")),
        _variable("CI_RUNNER_TAGS", json.dumps(runner.get("tag_list", []))),
    ]
    variables.append(_variable("CI_COMMIT_TAG" if ref_type == "tag" else "CI_COMMIT_BRANCH", ref))
    return variables


def job_payload(job, server_url="http://localhost"):
    """The body of a 201 answer to jobs/request, shaped like GitLab's (common/spec/spec.go Job).

    `server_url` is the URL the runner reached GitLab at (CI_SERVER_URL).
    """
    spec = job["spec"]
    timeout = spec.get("timeout", DEFAULT_JOB_TIMEOUT)
    ref = spec.get("ref") or "main"
    ref_type = spec.get("ref_type") or "branch"
    user_variables = spec.get("variables", {})
    if spec.get("repo_url"):
        # GitLab puts the job token into its own project URL only; a job token is
        # not sent to another host unless the job asks (repo_url_credentials: true).
        credentials = spec.get("repo_url_credentials")
        if credentials is None:
            credentials = same_host(spec["repo_url"], server_url)
        repo_url = with_job_credentials(spec["repo_url"], job["token"]) if credentials else spec["repo_url"]
    else:
        # A lab job without a repository runs without sources (GIT_STRATEGY=none below),
        # so the runner never uses repo_url; its build directory is then project-<id>
        # (common/build.go ProjectSlug). GitLab would always send its project's URL.
        repo_url = ""
    variables = predefined_variables(job, server_url, repo_url)
    if not spec.get("repo_url") and "GIT_STRATEGY" not in user_variables:
        variables.append(_variable("GIT_STRATEGY", "none"))
    variables += [_variable(key, value) for key, value in user_variables.items()]
    if ref.startswith("refs/"):
        refspecs = ["+%s:%s" % (ref, ref)]
    elif ref_type == "tag":
        refspecs = ["+refs/tags/%s:refs/tags/%s" % (ref, ref)]
    else:
        refspecs = ["+refs/heads/%s:refs/remotes/origin/%s" % (ref, ref)]
    steps = [{
        "name": "script",
        "script": list(spec.get("script", [])),
        "timeout": timeout,
        "when": "on_success",
        "allow_failure": False,
    }]
    if spec.get("after_script"):
        steps.append({"name": "after_script", "script": list(spec["after_script"]), "timeout": timeout,
                      "when": "always", "allow_failure": True})
    payload = {
        "id": job["id"],
        "token": job["token"],
        "allow_git_fetch": True,
        "job_info": {
            "id": job["id"],
            "name": spec.get("name", "lab-job"),
            "stage": spec.get("stage") or "test",
            "pipeline_id": job["id"],
            "project_id": PROJECT_ID,
            "project_name": PROJECT_NAME,
            "project_full_path": PROJECT_PATH,
            "time_in_queue_seconds": round(job.get("queued_for", 0.0), 3),
        },
        "git_info": {
            "repo_url": repo_url,
            "repo_object_format": "sha256" if len(job["sha"]) == 64 else "sha1",
            "ref": ref,
            "sha": job["sha"],
            "before_sha": spec.get("before_sha") or ZERO_SHA,
            "ref_type": ref_type,
            "refspecs": refspecs,
            "depth": spec.get("depth", DEFAULT_GIT_DEPTH),
            "protected": False,
        },
        "runner_info": {"timeout": timeout},
        "variables": variables,
        "steps": steps,
        "image": {"name": spec["image"]} if spec.get("image") else None,
        "services": [dict(service) for service in spec.get("services", [])],
        "artifacts": [],
        "cache": [],
        "credentials": [dict(credential) for credential in spec.get("credentials", [])],
        "dependencies": [],
        "features": {
            "trace_sections": True,
            "token_mask_prefixes": list(TOKEN_MASK_PREFIXES),
            "failure_reasons": list(GITLAB_FAILURE_REASONS),
        },
    }
    if spec.get("inputs") is not None:
        # Job inputs (common/spec/inputs.go JobInput); only a job that asks for them gets the key.
        payload["inputs"] = copy.deepcopy(spec["inputs"])
    return payload


def _check_sha(spec, field):
    value = spec.get(field)
    if value is not None and (not isinstance(value, str) or not SHA_PATTERN.fullmatch(value)):
        raise ApiError(400, "job '%s' must be a full commit id (40 or 64 lower-case hex digits), got %r" % (field, value))


def _check_count(spec, field, default, minimum):
    value = spec.get(field, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ApiError(400, "job '%s' must be an integer >= %d, got %r" % (field, minimum, value))


def validate_job_spec(spec):
    """Check a job queued through the control API; raise ApiError naming the bad field."""
    if not isinstance(spec, dict):
        raise ApiError(400, "job must be a JSON object")
    script = spec.get("script")
    if not isinstance(script, list) or not script or not all(isinstance(line, str) for line in script):
        raise ApiError(400, "job 'script' must be a non-empty list of strings, got %r" % (script,))
    after_script = spec.get("after_script", [])
    if not isinstance(after_script, list) or not all(isinstance(line, str) for line in after_script):
        raise ApiError(400, "job 'after_script' must be a list of strings, got %r" % (after_script,))
    variables = spec.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in variables.items()
    ):
        raise ApiError(400, "job 'variables' must map strings to strings, got %r" % (variables,))
    for field in ("image", "repo_url", "ref", "name", "stage"):
        if field in spec and spec[field] is not None and not isinstance(spec[field], str):
            raise ApiError(400, "job '%s' must be a string, got %r" % (field, spec[field]))
    if spec.get("repo_url_credentials") is not None and not isinstance(spec["repo_url_credentials"], bool):
        raise ApiError(400, "job 'repo_url_credentials' must be true, false or null, got %r"
                       % (spec["repo_url_credentials"],))
    if spec.get("ref_type", "branch") not in ("branch", "tag"):
        raise ApiError(400, "job 'ref_type' must be branch or tag, got %r" % (spec["ref_type"],))
    _check_sha(spec, "sha")
    _check_sha(spec, "before_sha")
    services = spec.get("services", [])
    if not isinstance(services, list) or not all(
        isinstance(service, dict) and isinstance(service.get("name"), str) for service in services
    ):
        raise ApiError(400, "job 'services' must be a list of objects with a 'name', got %r" % (services,))
    credentials = spec.get("credentials", [])
    if not isinstance(credentials, list) or not all(
        isinstance(credential, dict)
        and all(isinstance(credential.get(key), str) for key in ("type", "url", "username", "password"))
        for credential in credentials
    ):
        raise ApiError(400, "job 'credentials' must be a list of objects with string type, url, username and "
                            "password, got %r" % (credentials,))
    inputs = spec.get("inputs")
    if inputs is not None and (not isinstance(inputs, list) or not all(
        isinstance(job_input, dict) and isinstance(job_input.get("key"), str) and job_input["key"]
        and isinstance(job_input.get("value"), dict) and isinstance(job_input["value"].get("type"), str)
        and "content" in job_input["value"]
        for job_input in inputs
    )):
        raise ApiError(400, "job 'inputs' must be a list of objects with a 'key' and a 'value' of 'type' and "
                            "'content', got %r" % (inputs,))
    timeout = spec.get("timeout", DEFAULT_JOB_TIMEOUT)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise ApiError(400, "job 'timeout' must be a positive number of seconds, got %r" % (timeout,))
    _check_count(spec, "depth", DEFAULT_GIT_DEPTH, 0)
    _check_count(spec, "final_update_202_count", 0, 0)
    tags = spec.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ApiError(400, "job 'tags' must be a list of strings, got %r" % (tags,))
    return spec


class FakeGitLab:
    """The server's state and the answer to every API call; HTTP-free so it is easy to test."""

    def __init__(self, state_dir=None, clock=time.time, git_repository=None, external_url=None,
                 trace_update_interval=DEFAULT_TRACE_UPDATE_INTERVAL, long_poll_seconds=0):
        self._lock = threading.RLock()
        # Long polling waits on this (it releases the lock while waiting).
        self._queue_changed = threading.Condition(self._lock)
        self._clock = clock
        self._state_dir = state_dir
        # The bare repository refs are resolved in when a job names no sha (None: none).
        self.git_repository = git_repository
        # CI_SERVER_URL; None: from the request's Host and X-Forwarded-Proto.
        self.external_url = external_url.rstrip("/") if external_url else None
        self.trace_update_interval = trace_update_interval
        # Workhorse-style long polling of jobs/request (0: answer at once).
        self.long_poll_seconds = long_poll_seconds
        self.queue_version = secrets.token_hex(8)
        self.registration_tokens = {LAB_REGISTRATION_TOKEN}
        self.registration_enabled = True
        self.personal_access_tokens = {LAB_PERSONAL_ACCESS_TOKEN: ["create_runner", "api"]}
        self.token_lifetime = 0
        self.runners = {}
        self.jobs = {}
        self.job_queue = []
        self.request_log = []
        self.rate_limit = {"remaining": 0, "mode": "none", "seconds": 0}
        self._next_runner_id = 1
        self._next_job_id = 1
        self._next_request_id = 1

    # --- persistence ---------------------------------------------------------

    def save(self):
        """Write the seeds and runners to the state directory so a restart keeps them."""
        if not self._state_dir:
            return
        state = {
            "registration_token": LAB_REGISTRATION_TOKEN,
            "personal_access_token": LAB_PERSONAL_ACCESS_TOKEN,
            "registration_tokens": sorted(self.registration_tokens),
            "personal_access_tokens": self.personal_access_tokens,
            "token_lifetime": self.token_lifetime,
            "runners": {str(key): value for key, value in self.runners.items()},
            "next_runner_id": self._next_runner_id,
        }
        path = os.path.join(self._state_dir, "state.json")
        temporary = path + ".tmp"
        # It holds every token issued: readable by its owner only.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2, sort_keys=True)
        os.replace(temporary, path)

    def load(self):
        if not self._state_dir:
            return
        path = os.path.join(self._state_dir, "state.json")
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        self.registration_tokens = set(state["registration_tokens"])
        self.personal_access_tokens = state["personal_access_tokens"]
        self.token_lifetime = state["token_lifetime"]
        self.runners = {int(key): value for key, value in state["runners"].items()}
        self._next_runner_id = state["next_runner_id"]

    # --- tokens and runners --------------------------------------------------

    def _new_runner_token(self, runner, prefix):
        now = self._clock()
        runner["token"] = prefix + secrets.token_urlsafe(15)
        runner["token_obtained_at"] = now
        runner["token_expires_at"] = now + self.token_lifetime if self.token_lifetime else None

    def _credentials(self, runner):
        expires = runner["token_expires_at"]
        return {
            "id": runner["id"],
            "token": runner["token"],
            "token_expires_at": iso8601(expires) if expires else None,
        }

    def _runner_by_token(self, token):
        if not isinstance(token, str) or not token:
            raise ApiError(403, "403 Forbidden")
        for runner in self.runners.values():
            if runner["token"] == token:
                expires = runner["token_expires_at"]
                if expires and expires <= self._clock():
                    raise ApiError(403, "403 Forbidden - token expired")
                return runner
        raise ApiError(403, "403 Forbidden")

    def _create_runner(self, body, token_prefix, kind):
        runner_id = self._next_runner_id
        self._next_runner_id += 1
        runner = {
            "id": runner_id,
            "kind": kind,
            "description": body.get("description", ""),
            "tag_list": body.get("tag_list", []),
            "run_untagged": body.get("run_untagged", True),
            "locked": body.get("locked", False),
            "paused": body.get("paused", False),
            "access_level": body.get("access_level", "not_protected"),
            "maximum_timeout": body.get("maximum_timeout"),
            "maintenance_note": body.get("maintenance_note"),
            "runner_type": body.get("runner_type", "instance_type"),
            "group_id": body.get("group_id"),
            "project_id": body.get("project_id"),
            "managers": [],
            "info": body.get("info", {}),
        }
        if isinstance(runner["tag_list"], str):
            runner["tag_list"] = [tag.strip() for tag in runner["tag_list"].split(",") if tag.strip()]
        self._new_runner_token(runner, token_prefix)
        self.runners[runner_id] = runner
        return runner

    def register_legacy(self, body):
        if not self.registration_enabled:
            raise ApiError(410, "410 Gone - registration with registration tokens is disabled")
        if body.get("token") not in self.registration_tokens:
            raise ApiError(403, "403 Forbidden")
        runner = self._create_runner(body, "", "legacy")
        self.save()
        return 201, self._credentials(runner)

    def _record_contact(self, runner, body):
        """Remember what the runner says about itself (version, executor, features), as GitLab does."""
        if isinstance(body.get("info"), dict) and body["info"]:
            runner["info"] = body["info"]
        runner["contacted_at"] = self._clock()

    def _ensure_manager(self, runner, body):
        """GitLab's authenticate_runner!: the request's system_id names a runner manager, made if new;
        a request without one counts for the manager "<legacy>" (any kind of runner)."""
        system_id = body.get("system_id") or LEGACY_SYSTEM_ID
        if system_id not in runner["managers"]:
            runner["managers"].append(system_id)
            self.save()

    def verify(self, body):
        runner = self._runner_by_token(body.get("token"))
        self._record_contact(runner, body)
        self._ensure_manager(runner, body)
        return 200, self._credentials(runner)

    def delete_runner(self, body):
        runner = self._runner_by_token(body.get("token"))
        del self.runners[runner["id"]]
        self.save()
        return 204, None

    def delete_manager(self, body):
        runner = self._runner_by_token(body.get("token"))
        system_id = body.get("system_id")
        if not system_id:
            raise ApiError(400, "400 Bad request - system_id is missing")
        if system_id not in runner["managers"]:
            raise ApiError(404, "404 Runner manager not found")
        runner["managers"].remove(system_id)
        self.save()
        return 204, None

    def create_user_runner(self, body, private_token):
        scopes = self.personal_access_tokens.get(private_token)
        if scopes is None:
            raise ApiError(401, "401 Unauthorized")
        if "create_runner" not in scopes:
            raise ApiError(403, "403 Forbidden - insufficient_scope create_runner")
        runner_type = body.get("runner_type")
        if runner_type not in RUNNER_TYPES:
            raise ApiError(400, "400 Bad request - runner_type must be one of %s" % ", ".join(RUNNER_TYPES))
        if runner_type == "group_type" and not body.get("group_id"):
            raise ApiError(400, "400 Bad request - group_id is missing")
        if runner_type == "project_type" and not body.get("project_id"):
            raise ApiError(400, "400 Bad request - project_id is missing")
        runner = self._create_runner(body, "glrt-", "authentication")
        self.save()
        return 201, {"id": runner["id"], "token": runner["token"],
                     "token_expires_at": self._credentials(runner)["token_expires_at"]}

    # --- the runners API of users (PRIVATE-TOKEN) ------------------------------

    def _user_scopes(self, private_token, needed):
        """The scopes of a known access token that has one of `needed`; 401 unknown, 403 without them."""
        scopes = self.personal_access_tokens.get(private_token)
        if scopes is None:
            raise ApiError(401, "401 Unauthorized")
        if not set(needed) & set(scopes):
            raise ApiError(403, "403 Forbidden - insufficient_scope: this request needs one of %s"
                           % ", ".join(needed))
        return scopes

    def _runner_by_id(self, runner_id):
        runner = self.runners.get(runner_id)
        if runner is None:
            raise ApiError(404, "404 Runner Not Found")
        return runner

    def runner_details(self, runner):
        """A runner as GitLab's GET /runners/:id shows it (the fields a tool can compare and set)."""
        info = runner.get("info") or {}
        contacted = runner.get("contacted_at")
        return {
            "id": runner["id"],
            "description": runner["description"],
            "active": not runner["paused"],
            "paused": runner["paused"],
            "is_shared": runner["runner_type"] == "instance_type",
            "runner_type": runner["runner_type"],
            "name": info.get("name"),
            "online": contacted is not None,
            "status": "online" if contacted is not None else "never_contacted",
            "contacted_at": iso8601(contacted) if contacted is not None else None,
            "tag_list": list(runner["tag_list"]),
            "run_untagged": runner["run_untagged"],
            "locked": runner["locked"],
            "access_level": runner["access_level"],
            "maximum_timeout": runner["maximum_timeout"],
            "maintenance_note": runner.get("maintenance_note"),
            "version": info.get("version"),
            "revision": info.get("revision"),
            "platform": info.get("platform"),
            "architecture": info.get("architecture"),
            "managers": len(runner["managers"]),
        }

    def get_runner(self, runner_id, private_token):
        """GET /runners/:id: read_api, manage_runner or api."""
        self._user_scopes(private_token, ("api", "read_api", "manage_runner"))
        return 200, self.runner_details(self._runner_by_id(runner_id))

    def update_runner(self, runner_id, body, private_token):
        """PUT /runners/:id: manage_runner or api; checks every field like GitLab's API before changing any."""
        self._user_scopes(private_token, ("api", "manage_runner"))
        runner = self._runner_by_id(runner_id)
        changes = {}
        for field in ("description", "maintenance_note"):
            if field in body:
                if not isinstance(body[field], str):
                    raise ApiError(400, "400 Bad request - %s is invalid" % field)
                changes[field] = body[field]
        for field in ("paused", "run_untagged", "locked"):
            if field in body:
                if not isinstance(body[field], bool):
                    raise ApiError(400, "400 Bad request - %s is invalid" % field)
                changes[field] = body[field]
        if "active" in body:
            # Deprecated by GitLab in favour of paused; still accepted.
            if not isinstance(body["active"], bool):
                raise ApiError(400, "400 Bad request - active is invalid")
            changes.setdefault("paused", not body["active"])
        if "tag_list" in body:
            tags = body["tag_list"]
            if isinstance(tags, str):
                tags = [tag.strip() for tag in tags.split(",") if tag.strip()]
            if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
                raise ApiError(400, "400 Bad request - tag_list is invalid")
            changes["tag_list"] = tags
        if "access_level" in body:
            if body["access_level"] not in ACCESS_LEVELS:
                raise ApiError(400, "400 Bad request - access_level does not have a valid value")
            changes["access_level"] = body["access_level"]
        if "maximum_timeout" in body:
            timeout = body["maximum_timeout"]
            if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool)):
                raise ApiError(400, "400 Bad request - maximum_timeout is invalid")
            if timeout is not None and timeout < MINIMUM_MAXIMUM_TIMEOUT:
                raise ApiError(400, "400 Bad request - maximum_timeout needs to be at least %d seconds"
                               % MINIMUM_MAXIMUM_TIMEOUT)
            changes["maximum_timeout"] = timeout
        unknown = sorted(set(body) - set(RUNNER_UPDATE_FIELDS))
        if unknown:
            raise ApiError(400, "400 Bad request - unknown parameters: %s" % ", ".join(unknown))
        if not changes:
            raise ApiError(400, "400 Bad request - at least one parameter must be given")
        runner.update(changes)
        self.save()
        return 200, self.runner_details(runner)

    def delete_runner_by_id(self, runner_id, private_token):
        """DELETE /runners/:id: manage_runner or api; the runner, its managers and its token are gone."""
        self._user_scopes(private_token, ("api", "manage_runner"))
        runner = self._runner_by_id(runner_id)
        del self.runners[runner["id"]]
        self.save()
        return 204, None

    def router_discovery(self, header_token):
        """GET /runners/router/discovery: GitLab authenticates the runner by its Runner-Token header,
        then, with no job router configured, answers 501; the runner then polls jobs/request."""
        self._runner_by_token(header_token)
        raise ApiError(501, "501 Job Router is not available. Please contact your administrator.")

    def reset_authentication_token(self, body):
        runner = self._runner_by_token(body.get("token"))
        return self._reset_token(runner)

    def reset_authentication_token_with_pat(self, runner_id, private_token):
        """POST /runners/:id/reset_authentication_token (`gitlab-runner reset-token --pat`)."""
        scopes = self.personal_access_tokens.get(private_token)
        if scopes is None:
            raise ApiError(401, "401 Unauthorized")
        if not {"api", "manage_runner"} & set(scopes):
            raise ApiError(403, "403 Forbidden - insufficient_scope manage_runner")
        runner = self.runners.get(runner_id)
        if runner is None:
            raise ApiError(404, "404 Runner Not Found")
        return self._reset_token(runner)

    def _reset_token(self, runner):
        prefix = "glrt-" if runner["kind"] == "authentication" else ""
        self._new_runner_token(runner, prefix)
        self.save()
        return 201, {"token": runner["token"],
                     "token_expires_at": self._credentials(runner)["token_expires_at"]}

    # --- jobs ----------------------------------------------------------------

    def _resolve_job_sha(self, spec):
        """The commit the job runs: the spec's sha, else its ref resolved in the repository it clones."""
        if spec.get("sha"):
            return spec["sha"], "spec"
        ref, ref_type = spec.get("ref") or "main", spec.get("ref_type") or "branch"
        local = local_repository_path(spec.get("repo_url"))
        if local:
            sha = resolve_sha(local, ref, ref_type)
            return (sha, "repo_url") if sha else (ZERO_SHA, "unresolved")
        sha = resolve_sha(self.git_repository, ref, ref_type)
        return (sha, "git_repository") if sha else (ZERO_SHA, "unresolved")

    def _queue_changed_now(self):
        with self._lock:
            self.queue_version = secrets.token_hex(8)
            self._queue_changed.notify_all()

    def queue_job(self, spec):
        validate_job_spec(spec)
        with self._lock:
            job_id = self._next_job_id
            self._next_job_id += 1
            sha, sha_source = self._resolve_job_sha(spec)
            self.jobs[job_id] = {
                "id": job_id,
                "token": "glcbt-" + secrets.token_urlsafe(15),
                "spec": spec,
                "sha": sha,
                "sha_source": sha_source,
                "status": "pending",
                "queued_at": self._clock(),
                "exit_code": None,
                "failure_reason": None,
                "trace": bytearray(),
                "runner_id": None,
                "system_id": None,
                "runner_info": None,
                "runner": None,
                "checksum": None,
                "bytesize": None,
                "final_update_attempts": 0,
                "final_202_left": spec.get("final_update_202_count", 0),
                "cancel_gracefully": False,
            }
            self.job_queue.append(job_id)
            self._queue_changed_now()
            return job_id

    def _job_matches(self, job, runner):
        tags = job["spec"].get("tags", [])
        if not tags:
            return runner["run_untagged"]
        return set(tags) <= set(runner["tag_list"])

    def _pick_job(self, runner, body, server_url):
        for job_id in list(self.job_queue):
            job = self.jobs[job_id]
            if self._job_matches(job, runner):
                self.job_queue.remove(job_id)
                info = body.get("info") if isinstance(body.get("info"), dict) else {}
                features = info.get("features") if isinstance(info.get("features"), dict) else {}
                job["status"] = "running"
                job["runner_id"] = runner["id"]
                job["system_id"] = body.get("system_id")
                job["runner_info"] = info
                job["cancel_gracefully"] = bool(features.get("cancel_gracefully"))
                job["runner"] = {key: runner[key] for key in ("id", "description", "tag_list")}
                job["queued_for"] = self._clock() - job["queued_at"]
                self._queue_changed_now()
                return job_payload(job, server_url)
        return None

    def request_job(self, body, server_url="http://localhost"):
        """POST /jobs/request: (status, job payload or None, headers).

        Like GitLab Workhorse with long polling on: when the runner's `last_update`
        is the queue version it was last told, there is nothing new for it, and the
        answer waits (up to long_poll_seconds) for the queue to change; the lock is
        released while waiting.
        """
        with self._lock:
            return self._request_job(body, server_url)

    def _request_job(self, body, server_url):
        runner = self._runner_by_token(body.get("token"))
        self._record_contact(runner, body)
        self._ensure_manager(runner, body)
        if not runner["paused"]:
            payload = self._pick_job(runner, body, server_url)
            if payload is None and self.long_poll_seconds > 0 and body.get("last_update") == self.queue_version:
                deadline = time.monotonic() + self.long_poll_seconds
                version = self.queue_version
                while payload is None and time.monotonic() < deadline:
                    if self.queue_version == version:
                        self._queue_changed.wait(deadline - time.monotonic())
                    if self.queue_version != version:
                        version = self.queue_version
                        runner = self._runner_by_token(body.get("token"))
                        payload = None if runner["paused"] else self._pick_job(runner, body, server_url)
            if payload is not None:
                # GitLab answers a job without X-GitLab-Last-Update; the runner keeps the one it had.
                return 201, payload, {}
        return 204, None, {"X-GitLab-Last-Update": self.queue_version}

    def _job_headers(self, job):
        return {"Job-Status": job["status"], "X-GitLab-Trace-Update-Interval": str(self.trace_update_interval)}

    def _job_by_token(self, job_id, token):
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "404 Job not found")
        if not token or token != job["token"]:
            raise ApiError(403, "403 Forbidden")
        if job["status"] not in PROCESSING_STATES:
            # GitLab's job_forbidden!: the runner reads Job-Status (and any 403) as "abort".
            raise ApiError(403, "403 Forbidden - Job is not processing on runner", {"Job-Status": job["status"]})
        return job

    def _finish(self, job, state, body):
        job["status"] = "canceled" if job["status"] == "canceling" else state
        # exit_code is omitempty in the runner's UpdateJobRequest: a success sends none, meaning 0.
        job["exit_code"] = body.get("exit_code", 0 if state == "success" else None)
        job["failure_reason"] = body.get("failure_reason")
        job["finished_at"] = self._clock()
        self._queue_changed_now()

    def update_job(self, job_id, body, header_token=None):
        """PUT /jobs/:id: (status, body, headers). state=running is a keep-alive, success/failed the end.

        The final update is answered 202 ("accepted, not yet completed"; the runner
        waits X-GitLab-Trace-Update-Interval and sends it again) while the trace that
        arrived is shorter than output.bytesize, at most INCOMPLETE_TRACE_ACCEPTS
        times, and the first `final_update_202_count` times the job asked for; then
        200 and the job is finished.
        """
        job = self._job_by_token(job_id, body.get("token") or header_token)
        state = body.get("state")
        if state not in ("running", "success", "failed"):
            raise ApiError(400, "400 Bad request - state must be running, success or failed, got %r" % (state,))
        if isinstance(body.get("trace"), str):
            # Runners before 11.x sent the whole trace here.
            job["trace"] = bytearray(body["trace"].encode("utf-8"))
        output = body.get("output") if isinstance(body.get("output"), dict) else {}
        checksum = output.get("checksum") or body.get("checksum")
        bytesize = output.get("bytesize", 0 if checksum else None)
        if state == "running":
            return 200, None, self._job_headers(job)
        job["final_update_attempts"] += 1
        job["checksum"], job["bytesize"] = checksum, bytesize
        incomplete = bytesize is not None and len(job["trace"]) < bytesize
        if job["final_202_left"] > 0:
            job["final_202_left"] -= 1
            return 202, None, self._job_headers(job)
        if incomplete and job["final_update_attempts"] <= INCOMPLETE_TRACE_ACCEPTS:
            return 202, None, self._job_headers(job)
        self._finish(job, state, body)
        return 200, None, self._job_headers(job)

    def append_trace(self, job_id, token, content_range, data):
        """PATCH /jobs/:id/trace: (status, body, headers), as GitLab's API answers it.

        Only the start of Content-Range counts (the runner sends an inclusive end,
        start+len-1; GitLab ignores the end too). It must be the size of the trace
        so far, else 416 with `Range: 0-<size>`, from where the runner continues.
        """
        job = self._job_by_token(job_id, token)
        match = re.fullmatch(r"(\d+)-(\d+)", (content_range or "").strip())
        if not match:
            raise ApiError(400, "400 Missing header Content-Range", self._job_headers(job))
        size = len(job["trace"])
        if int(match.group(1)) != size:
            headers = dict(self._job_headers(job), Range="0-%d" % size)
            raise ApiError(416, "416 Range Not Satisfiable", headers)
        job["trace"] += data
        return 202, None, dict(self._job_headers(job), Range="0-%d" % len(job["trace"]))

    def cancel_job(self, job_id):
        """Cancel like GitLab: a pending job at once; a running one gracefully (Job-Status: canceling)
        when its runner announced cancel_gracefully, else hard (canceled: the runner aborts)."""
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "no job with id %r" % (job_id,))
        if job["status"] == "pending":
            self.job_queue.remove(job_id)
            job["status"] = "canceled"
        elif job["status"] == "running":
            job["status"] = "canceling" if job["cancel_gracefully"] else "canceled"
        elif job["status"] != "canceling":
            raise ApiError(409, "job %d is already %s" % (job_id, job["status"]))
        self._queue_changed_now()
        return {"id": job_id, "status": job["status"]}

    def job_result(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "no job with id %r" % (job_id,))
        result = {key: job[key] for key in (
            "id", "status", "exit_code", "failure_reason", "runner_id", "system_id", "sha", "sha_source",
            "checksum", "bytesize", "final_update_attempts", "runner_info")}
        trace = bytes(job["trace"])
        result["trace"] = trace.decode("utf-8", errors="replace")
        result["trace_bytesize"] = len(trace)
        result["trace_checksum"] = trace_checksum(trace)
        # Whether the checksum the runner sent with its final update matches what arrived.
        result["checksum_ok"] = None if job["checksum"] is None else job["checksum"] == result["trace_checksum"]
        return result

    # --- control -------------------------------------------------------------

    def set_rate_limit(self, body):
        count = body.get("count")
        mode = body.get("mode")
        seconds = body.get("seconds", 2)
        status = body.get("status", 429)
        if not isinstance(count, int) or count < 0:
            raise ApiError(400, "rate limit 'count' must be a non-negative integer, got %r" % (count,))
        if mode not in RATE_LIMIT_MODES:
            raise ApiError(400, "rate limit 'mode' must be one of %s, got %r" % (", ".join(RATE_LIMIT_MODES), mode))
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ApiError(400, "rate limit 'seconds' must be a non-negative number, got %r" % (seconds,))
        routes = body.get("routes")
        known = sorted(name for _method, _pattern, name in API_ROUTES)
        if routes is not None and (not isinstance(routes, list) or not set(routes) <= set(known)):
            raise ApiError(400, "rate limit 'routes' must be a list of route names (%s), got %r"
                           % (", ".join(known), routes))
        if status != 429 and (not isinstance(status, int) or not 500 <= status <= 599):
            raise ApiError(400, "rate limit 'status' must be 429 or a 5xx status, got %r" % (status,))
        self.rate_limit = {"remaining": count, "mode": mode, "seconds": seconds, "routes": routes, "status": status}
        return self.rate_limit

    def take_rate_limit(self, route):
        """(status, headers) of the answer if the next API request on this route is to be refused, else None."""
        if self.rate_limit["remaining"] <= 0:
            return None
        if self.rate_limit.get("routes") is not None and route not in self.rate_limit["routes"]:
            return None
        self.rate_limit["remaining"] -= 1
        return self.rate_limit["status"], rate_limit_headers(
            self.rate_limit["mode"], self.rate_limit["seconds"], self._clock())

    def set_token_lifetime(self, body):
        seconds = body.get("seconds")
        if not isinstance(seconds, int) or seconds < 0:
            raise ApiError(400, "token lifetime 'seconds' must be a non-negative integer (0: no expiry), got %r" % (seconds,))
        self.token_lifetime = seconds
        self.save()
        return {"seconds": seconds}

    def log_request(self, entry):
        entry["seq"] = self._next_request_id
        self._next_request_id += 1
        self.request_log.append(entry)
        del self.request_log[:-REQUEST_LOG_LIMIT]

    def public_state(self):
        return {
            "registration_tokens": sorted(self.registration_tokens),
            "registration_enabled": self.registration_enabled,
            "personal_access_tokens": self.personal_access_tokens,
            "token_lifetime": self.token_lifetime,
            "rate_limit": self.rate_limit,
            "runners": [dict(runner) for runner in self.runners.values()],
            "queued_jobs": list(self.job_queue),
            "git_repository": self.git_repository,
            "external_url": self.external_url,
            "trace_update_interval": self.trace_update_interval,
            "long_poll_seconds": self.long_poll_seconds,
            "queue_version": self.queue_version,
        }


API_ROUTES = [
    ("POST", re.compile(r"/api/v4/runners"), "register"),
    ("POST", re.compile(r"/api/v4/runners/verify"), "verify"),
    ("DELETE", re.compile(r"/api/v4/runners"), "delete_runner"),
    ("DELETE", re.compile(r"/api/v4/runners/managers"), "delete_manager"),
    ("POST", re.compile(r"/api/v4/user/runners"), "user_runners"),
    ("POST", re.compile(r"/api/v4/runners/reset_authentication_token"), "reset_token"),
    ("POST", re.compile(r"/api/v4/runners/(\d+)/reset_authentication_token"), "reset_token_with_pat"),
    ("GET", re.compile(r"/api/v4/runners/router/discovery"), "router_discovery"),
    ("GET", re.compile(r"/api/v4/runners/(\d+)"), "get_runner"),
    ("PUT", re.compile(r"/api/v4/runners/(\d+)"), "update_runner"),
    ("DELETE", re.compile(r"/api/v4/runners/(\d+)"), "delete_runner_by_id"),
    ("POST", re.compile(r"/api/v4/jobs/request"), "job_request"),
    ("PUT", re.compile(r"/api/v4/jobs/(\d+)"), "job_update"),
    ("PATCH", re.compile(r"/api/v4/jobs/(\d+)/trace"), "job_trace"),
]


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakegitlab"
    gitlab = None

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    def _body(self):
        """The request body, read once (also when the answer is an error, so keep-alive stays in step)."""
        if getattr(self, "_read_body", None) is None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self._read_body = b"".join(chunks)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                self._read_body = self.rfile.read(length) if length else b""
        return self._read_body

    def _json_body(self):
        raw = self._body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise ApiError(400, "400 Bad request - body is not JSON: %s" % error) from None
        if not isinstance(body, dict):
            raise ApiError(400, "400 Bad request - body must be a JSON object")
        return body

    def _send(self, status, payload=None, headers=None):
        self._body()
        self._read_body = None
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
        return status


class ApiHandler(BaseHandler):
    """The runner-facing API (plain HTTP and HTTPS ports)."""

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_PATCH(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _handle(self):
        path = self.path.split("?", 1)[0]
        started = time.time()
        gitlab = self.gitlab
        with gitlab._lock:
            try:
                status = self._dispatch(path)
            except ApiError as error:
                status = self._send(error.status, {"message": error.message}, error.headers)
            gitlab.log_request({
                "time": started,
                "method": self.command,
                "path": path,
                "status": status,
                "client": self.client_address[0],
                # Behind the lab's nginx the peer is nginx; the proxy's address comes in X-Forwarded-For.
                "forwarded_for": self.headers.get("X-Forwarded-For", ""),
                "user_agent": self.headers.get("User-Agent", ""),
                "scheme": "https" if isinstance(self.connection, ssl.SSLSocket) else "http",
                "headers": redact_headers(dict(self.headers.items())),
            })

    def _dispatch(self, path):
        gitlab = self.gitlab
        if path == "/-/health":
            return self._send(200, {"status": "ok"})
        for method, pattern, name in API_ROUTES:
            match = pattern.fullmatch(path)
            if match and method == self.command:
                break
        else:
            if any(pattern.fullmatch(path) for _method, pattern, _name in API_ROUTES):
                raise ApiError(405, "405 Method Not Allowed")
            raise ApiError(404, "404 Not Found")
        limited = gitlab.take_rate_limit(name)
        if limited is not None:
            self._body()
            status, headers = limited
            return self._send(status, {"message": "Retry later"}, headers)
        if name == "job_trace":
            return self._send(*gitlab.append_trace(
                int(match.group(1)), self.headers.get("JOB-TOKEN"), self.headers.get("Content-Range"), self._body()
            ))
        if name == "router_discovery":
            return self._send(*gitlab.router_discovery(self.headers.get("Runner-Token")))
        body = self._json_body()
        if name == "job_request":
            return self._send(*gitlab.request_job(body, self._server_url()))
        if name == "job_update":
            return self._send(*gitlab.update_job(int(match.group(1)), body, self.headers.get("JOB-TOKEN")))
        if name == "register":
            status, payload = gitlab.register_legacy(body)
        elif name == "verify":
            status, payload = gitlab.verify(body)
        elif name == "delete_runner":
            status, payload = gitlab.delete_runner(body)
        elif name == "delete_manager":
            status, payload = gitlab.delete_manager(body)
        elif name == "user_runners":
            status, payload = gitlab.create_user_runner(body, self.headers.get("PRIVATE-TOKEN"))
        elif name == "reset_token":
            status, payload = gitlab.reset_authentication_token(body)
        elif name == "get_runner":
            status, payload = gitlab.get_runner(int(match.group(1)), self.headers.get("PRIVATE-TOKEN"))
        elif name == "update_runner":
            status, payload = gitlab.update_runner(int(match.group(1)), body, self.headers.get("PRIVATE-TOKEN"))
        elif name == "delete_runner_by_id":
            status, payload = gitlab.delete_runner_by_id(int(match.group(1)), self.headers.get("PRIVATE-TOKEN"))
        else:
            status, payload = gitlab.reset_authentication_token_with_pat(
                int(match.group(1)), self.headers.get("PRIVATE-TOKEN"))
        return self._send(status, payload)

    def _server_url(self):
        """The URL the runner reached us at (CI_SERVER_URL): nginx passes Host and X-Forwarded-Proto."""
        if self.gitlab.external_url:
            return self.gitlab.external_url
        scheme = self.headers.get("X-Forwarded-Proto") or (
            "https" if isinstance(self.connection, ssl.SSLSocket) else "http")
        host = self.headers.get("X-Forwarded-Host") or self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        return "%s://%s" % (scheme.split(",")[0].strip(), host.split(",")[0].strip())


class ControlHandler(BaseHandler):
    """The controller-facing API: queue jobs, read results and logs, switch modes."""

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def _handle(self):
        gitlab = self.gitlab
        path, _separator, query = self.path.partition("?")
        with gitlab._lock:
            try:
                self._dispatch(path, query)
            except ApiError as error:
                self._send(error.status, {"message": error.message})

    def _dispatch(self, path, query):
        gitlab = self.gitlab
        job_match = re.fullmatch(r"/jobs/(\d+)", path)
        cancel_match = re.fullmatch(r"/jobs/(\d+)/cancel", path)
        if self.command == "GET" and path == "/state":
            return self._send(200, gitlab.public_state())
        if self.command == "GET" and path == "/requests":
            since = 0
            for part in query.split("&"):
                if part.startswith("since="):
                    since = int(part[len("since="):] or 0)
            return self._send(200, [entry for entry in gitlab.request_log if entry["seq"] > since])
        if self.command == "GET" and job_match:
            return self._send(200, gitlab.job_result(int(job_match.group(1))))
        if self.command != "POST":
            raise ApiError(404, "no control endpoint %s %s" % (self.command, path))
        body = self._json_body()
        if path == "/jobs":
            return self._send(201, {"id": gitlab.queue_job(body)})
        if cancel_match:
            return self._send(200, gitlab.cancel_job(int(cancel_match.group(1))))
        if path in ("/long_polling", "/trace_update_interval"):
            seconds = body.get("seconds")
            if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
                raise ApiError(400, "'seconds' must be a non-negative integer, got %r" % (seconds,))
            if path == "/long_polling":
                gitlab.long_poll_seconds = seconds
            elif seconds == 0:
                raise ApiError(400, "'seconds' must be at least 1 for the trace update interval")
            else:
                gitlab.trace_update_interval = seconds
            return self._send(200, {"seconds": seconds})
        if path == "/rate_limit":
            return self._send(200, gitlab.set_rate_limit(body))
        if path == "/token_lifetime":
            return self._send(200, gitlab.set_token_lifetime(body))
        if path == "/registration_tokens":
            token = body.get("token")
            if not isinstance(token, str) or not token:
                raise ApiError(400, "'token' must be a non-empty string, got %r" % (token,))
            gitlab.registration_tokens.add(token)
            gitlab.save()
            return self._send(201, {"token": token})
        if path == "/registration":
            enabled = body.get("enabled")
            if not isinstance(enabled, bool):
                raise ApiError(400, "'enabled' must be true or false, got %r" % (enabled,))
            gitlab.registration_enabled = enabled
            return self._send(200, {"enabled": enabled})
        if path == "/personal_access_tokens":
            token = body.get("token")
            scopes = body.get("scopes", ["create_runner"])
            if not isinstance(token, str) or not token:
                raise ApiError(400, "'token' must be a non-empty string, got %r" % (token,))
            if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
                raise ApiError(400, "'scopes' must be a list of strings, got %r" % (scopes,))
            gitlab.personal_access_tokens[token] = scopes
            gitlab.save()
            return self._send(201, {"token": token, "scopes": scopes})
        raise ApiError(404, "no control endpoint POST %s" % path)


def make_server(handler_class, gitlab, address, port, tls_context=None):
    handler = type(handler_class.__name__, (handler_class,), {"gitlab": gitlab})
    server = ThreadingHTTPServer((address, port), handler)
    server.daemon_threads = True
    if tls_context is not None:
        # Handshake in the handler's thread, so a client that never completes
        # one cannot stall the accept loop.
        server.socket = tls_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="A fake GitLab runner API for the behindproxy lab (a test fixture).")
    parser.add_argument("--address", default="0.0.0.0", help="address the API ports listen on")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--https-port", type=int)
    parser.add_argument("--cert", help="PEM certificate (chain) for the HTTPS port")
    parser.add_argument("--key", help="PEM private key for the HTTPS port")
    parser.add_argument("--control-address", default="0.0.0.0", help="address the control port listens on")
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--state-dir", required=True, help="directory for state.json (created if missing)")
    parser.add_argument("--git-repository", default=DEFAULT_GIT_REPOSITORY,
                        help="bare repository in which a queued job's ref is resolved to the commit it runs, when "
                             "the job names no sha and its repo_url is not a local path (default: %(default)s; "
                             "ignored if missing)")
    parser.add_argument("--external-url",
                        help="CI_SERVER_URL sent to jobs (default: from each request's Host and X-Forwarded-Proto)")
    parser.add_argument("--trace-update-interval", type=int, default=DEFAULT_TRACE_UPDATE_INTERVAL,
                        help="seconds, sent as X-GitLab-Trace-Update-Interval (default: %(default)s)")
    parser.add_argument("--long-poll-seconds", type=int, default=0,
                        help="hold jobs/request up to this long when nothing changed for the runner, like "
                             "GitLab Workhorse (default: 0, answer at once)")
    arguments = parser.parse_args(argv)
    if arguments.https_port is not None and not (arguments.cert and arguments.key):
        parser.error("--https-port needs --cert and --key")
    if arguments.trace_update_interval < 1:
        parser.error("--trace-update-interval must be at least 1")
    if arguments.long_poll_seconds < 0:
        parser.error("--long-poll-seconds must not be negative")
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    os.makedirs(arguments.state_dir, exist_ok=True)
    gitlab = FakeGitLab(arguments.state_dir, git_repository=arguments.git_repository,
                        external_url=arguments.external_url, trace_update_interval=arguments.trace_update_interval,
                        long_poll_seconds=arguments.long_poll_seconds)
    gitlab.load()
    gitlab.save()
    servers = [
        make_server(ApiHandler, gitlab, arguments.address, arguments.http_port),
        make_server(ControlHandler, gitlab, arguments.control_address, arguments.control_port),
    ]
    if arguments.https_port is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(arguments.cert, arguments.key)
        servers.append(make_server(ApiHandler, gitlab, arguments.address, arguments.https_port, context))
    ports = {"http": servers[0].server_address[1], "control": servers[1].server_address[1]}
    if arguments.https_port is not None:
        ports["https"] = servers[2].server_address[1]
    with open(os.path.join(arguments.state_dir, "ports.json"), "w", encoding="utf-8") as handle:
        json.dump(ports, handle)
    sys.stdout.write(json.dumps({"ports": ports, "registration_token": LAB_REGISTRATION_TOKEN,
                                 "personal_access_token": LAB_PERSONAL_ACCESS_TOKEN}) + "\n")
    sys.stdout.flush()
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers[1:]]
    for thread in threads:
        thread.start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
