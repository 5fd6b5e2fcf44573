# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake GitLab API for the lab: the runner endpoints, nothing else.

It is a test fixture, not GitLab. It speaks the request and response shapes
the runner and the collection's modules use (FACTS.md), accepts only tokens
it issued itself, and has a second port (the control API) through which the
test controller queues jobs, reads results and the request log, switches on
429 answers and sets the token lifetime. Standard library only: it runs with
Debian's python3 inside the lab's internet container.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import re
import secrets
import ssl
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAB_REGISTRATION_TOKEN = "GR1348941lab-registration-token"
LAB_PERSONAL_ACCESS_TOKEN = "glpat-lab-personal-access-token"
RATE_LIMIT_MODES = ("reset-time", "invalid-reset-time", "none", "retry-after")
RUNNER_TYPES = ("instance_type", "group_type", "project_type")
REDACTED_HEADERS = ("private-token", "runner-token", "job-token", "authorization")
REQUEST_LOG_LIMIT = 10000
DEFAULT_JOB_TIMEOUT = 3600


class ApiError(Exception):
    """An answer other than success, with the GitLab-style message body."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


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


def job_payload(job):
    """The body of a 201 answer to jobs/request, shaped like GitLab's."""
    spec = job["spec"]
    variables = [
        {"key": key, "value": value, "public": True, "masked": False}
        for key, value in spec.get("variables", {}).items()
    ]
    variables += [
        {"key": "CI_JOB_ID", "value": str(job["id"]), "public": True, "masked": False},
        {"key": "CI_REPOSITORY_URL", "value": spec.get("repo_url", ""), "public": False, "masked": False},
    ]
    return {
        "id": job["id"],
        "token": job["token"],
        "allow_git_fetch": True,
        "job_info": {
            "id": job["id"],
            "name": spec.get("name", "lab-job"),
            "stage": "test",
            "project_id": 1,
            "project_name": "lab",
        },
        "git_info": {
            "repo_url": spec.get("repo_url", ""),
            "ref": spec.get("ref", "main"),
            "sha": spec.get("sha", ""),
            "before_sha": "",
            "ref_type": "branch",
            "refspecs": [],
            "depth": 1,
        },
        "runner_info": {"timeout": spec.get("timeout", DEFAULT_JOB_TIMEOUT)},
        "variables": variables,
        "steps": [
            {
                "name": "script",
                "script": list(spec.get("script", [])),
                "timeout": spec.get("timeout", DEFAULT_JOB_TIMEOUT),
                "when": "on_success",
                "allow_failure": False,
            }
        ],
        "image": {"name": spec["image"]} if spec.get("image") else None,
        "services": [dict(service) for service in spec.get("services", [])],
        "artifacts": [],
        "cache": [],
        "credentials": [],
        "dependencies": [],
        "features": {"trace_sections": False},
    }


def validate_job_spec(spec):
    """Check a job queued through the control API; raise ApiError naming the bad field."""
    if not isinstance(spec, dict):
        raise ApiError(400, "job must be a JSON object")
    script = spec.get("script")
    if not isinstance(script, list) or not script or not all(isinstance(line, str) for line in script):
        raise ApiError(400, "job 'script' must be a non-empty list of strings, got %r" % (script,))
    variables = spec.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in variables.items()
    ):
        raise ApiError(400, "job 'variables' must map strings to strings, got %r" % (variables,))
    for field in ("image", "repo_url", "ref", "name"):
        if field in spec and spec[field] is not None and not isinstance(spec[field], str):
            raise ApiError(400, "job '%s' must be a string, got %r" % (field, spec[field]))
    services = spec.get("services", [])
    if not isinstance(services, list) or not all(
        isinstance(service, dict) and isinstance(service.get("name"), str) for service in services
    ):
        raise ApiError(400, "job 'services' must be a list of objects with a 'name', got %r" % (services,))
    timeout = spec.get("timeout", DEFAULT_JOB_TIMEOUT)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise ApiError(400, "job 'timeout' must be a positive number of seconds, got %r" % (timeout,))
    tags = spec.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ApiError(400, "job 'tags' must be a list of strings, got %r" % (tags,))
    return spec


class FakeGitLab:
    """The server's state and the answer to every API call; HTTP-free so it is easy to test."""

    def __init__(self, state_dir=None, clock=time.time):
        self._lock = threading.RLock()
        self._clock = clock
        self._state_dir = state_dir
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
            "runner_type": body.get("runner_type", "instance_type"),
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

    def verify(self, body):
        runner = self._runner_by_token(body.get("token"))
        system_id = body.get("system_id")
        if runner["kind"] == "authentication":
            if not system_id:
                raise ApiError(400, "400 Bad request - system_id is missing")
            if system_id not in runner["managers"]:
                runner["managers"].append(system_id)
                self.save()
        return 200, self._credentials(runner)

    def delete_runner(self, body):
        runner = self._runner_by_token(body.get("token"))
        del self.runners[runner["id"]]
        self.save()
        return 204, None

    def delete_manager(self, body):
        runner = self._runner_by_token(body.get("token"))
        system_id = body.get("system_id")
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

    def reset_authentication_token(self, body):
        runner = self._runner_by_token(body.get("token"))
        prefix = "glrt-" if runner["kind"] == "authentication" else ""
        self._new_runner_token(runner, prefix)
        self.save()
        return 201, {"token": runner["token"],
                     "token_expires_at": self._credentials(runner)["token_expires_at"]}

    # --- jobs ----------------------------------------------------------------

    def queue_job(self, spec):
        validate_job_spec(spec)
        with self._lock:
            job_id = self._next_job_id
            self._next_job_id += 1
            self.jobs[job_id] = {
                "id": job_id,
                "token": "glcbt-" + secrets.token_urlsafe(15),
                "spec": spec,
                "status": "pending",
                "exit_code": None,
                "failure_reason": None,
                "trace": "",
                "runner_id": None,
                "system_id": None,
            }
            self.job_queue.append(job_id)
            return job_id

    def _job_matches(self, job, runner):
        tags = job["spec"].get("tags", [])
        if not tags:
            return runner["run_untagged"]
        return set(tags) <= set(runner["tag_list"])

    def request_job(self, body):
        runner = self._runner_by_token(body.get("token"))
        if runner["paused"]:
            return 204, None
        for job_id in list(self.job_queue):
            job = self.jobs[job_id]
            if self._job_matches(job, runner):
                self.job_queue.remove(job_id)
                job["status"] = "running"
                job["runner_id"] = runner["id"]
                job["system_id"] = body.get("system_id")
                return 201, job_payload(job)
        return 204, None

    def _job_by_token(self, job_id, token):
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "404 Job not found")
        if token != job["token"]:
            raise ApiError(403, "403 Forbidden")
        if job["status"] not in ("running",):
            raise ApiError(403, "403 Forbidden - job is not running")
        return job

    def update_job(self, job_id, body):
        job = self._job_by_token(job_id, body.get("token"))
        state = body.get("state")
        if state not in ("running", "success", "failed"):
            raise ApiError(400, "400 Bad request - state must be running, success or failed, got %r" % (state,))
        if isinstance(body.get("trace"), str):
            job["trace"] = body["trace"]
        if state != "running":
            job["status"] = state
            job["exit_code"] = body.get("exit_code")
            job["failure_reason"] = body.get("failure_reason")
        return 200, {}

    def append_trace(self, job_id, token, content_range, data):
        job = self._job_by_token(job_id, token)
        match = re.fullmatch(r"(\d+)-(\d+)", content_range or "")
        if not match or int(match.group(1)) != len(job["trace"].encode("utf-8")):
            raise ApiError(416, "416 Range Not Satisfiable")
        job["trace"] += data.decode("utf-8", errors="replace")
        return 202, None

    def job_result(self, job_id):
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "no job with id %r" % (job_id,))
        return {key: job[key] for key in ("id", "status", "exit_code", "failure_reason", "trace", "runner_id", "system_id")}

    # --- control -------------------------------------------------------------

    def set_rate_limit(self, body):
        count = body.get("count")
        mode = body.get("mode")
        seconds = body.get("seconds", 2)
        if not isinstance(count, int) or count < 0:
            raise ApiError(400, "rate limit 'count' must be a non-negative integer, got %r" % (count,))
        if mode not in RATE_LIMIT_MODES:
            raise ApiError(400, "rate limit 'mode' must be one of %s, got %r" % (", ".join(RATE_LIMIT_MODES), mode))
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ApiError(400, "rate limit 'seconds' must be a non-negative number, got %r" % (seconds,))
        self.rate_limit = {"remaining": count, "mode": mode, "seconds": seconds}
        return self.rate_limit

    def take_rate_limit(self):
        """Headers for a 429 if the next API request is to be refused, else None."""
        if self.rate_limit["remaining"] <= 0:
            return None
        self.rate_limit["remaining"] -= 1
        return rate_limit_headers(self.rate_limit["mode"], self.rate_limit["seconds"], self._clock())

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
        }


API_ROUTES = [
    ("POST", re.compile(r"/api/v4/runners"), "register"),
    ("POST", re.compile(r"/api/v4/runners/verify"), "verify"),
    ("DELETE", re.compile(r"/api/v4/runners"), "delete_runner"),
    ("DELETE", re.compile(r"/api/v4/runners/managers"), "delete_manager"),
    ("POST", re.compile(r"/api/v4/user/runners"), "user_runners"),
    ("POST", re.compile(r"/api/v4/runners/reset_authentication_token"), "reset_token"),
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
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

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
                status = self._send(error.status, {"message": error.message})
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
        limited = gitlab.take_rate_limit()
        if limited is not None:
            self._body()
            return self._send(429, {"message": "Retry later"}, limited)
        if name == "job_trace":
            status, payload = gitlab.append_trace(
                int(match.group(1)), self.headers.get("JOB-TOKEN"), self.headers.get("Content-Range"), self._body()
            )
            length = len(gitlab.jobs[int(match.group(1))]["trace"].encode("utf-8"))
            return self._send(status, payload, {"Range": "0-%d" % length, "Job-Status": "running"})
        body = self._json_body()
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
        elif name == "job_request":
            status, payload = gitlab.request_job(body)
        else:
            status, payload = gitlab.update_job(int(match.group(1)), body)
        return self._send(status, payload)


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
    arguments = parser.parse_args(argv)
    if arguments.https_port is not None and not (arguments.cert and arguments.key):
        parser.error("--https-port needs --cert and --key")
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    os.makedirs(arguments.state_dir, exist_ok=True)
    gitlab = FakeGitLab(arguments.state_dir)
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
