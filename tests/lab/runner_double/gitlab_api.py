# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner double's GitLab client.

urllib's default opener takes HTTP_PROXY/HTTPS_PROXY/NO_PROXY (either case)
from the process environment, as the real runner's Go transport does, so the
service's systemd drop-in decides whether the double reaches GitLab.
429 answers are retried the way runners before 18.3 do (seed 000): wait until
RateLimit-ResetTime (unparsable: one minute), at most 5 rounds; without that
header the 429 is returned to the caller.
"""

from __future__ import annotations

import base64
import email.message
import email.utils
import http.client
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

RATE_LIMIT_ROUNDS = 5
UNPARSABLE_RESET_WAIT = 60.0
VERSION = "17.11.0~double"
USER_AGENT = "gitlab-runner %s (test double; linux/amd64)" % VERSION


class ApiResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None


class GaveUp(Exception):
    """Still rate limited after every round."""


def rate_limit_wait(headers, now):
    """Seconds to wait before retrying a 429, or None when the runner would not retry it."""
    value = headers.get("RateLimit-ResetTime")
    if value is None:
        return None
    try:
        reset = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return UNPARSABLE_RESET_WAIT
    return max(0.0, reset - now)


def runner_info(executor="docker"):
    return {"name": "gitlab-runner", "version": VERSION, "revision": "double", "platform": "linux",
            "architecture": "amd64", "executor": executor}


class GitLabClient:
    def __init__(self, url, ca_file=None, timeout=30, sleep=time.sleep, clock=time.time):
        self.base = url.rstrip("/") + "/api/v4"
        self._context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self.timeout = timeout
        self._sleep = sleep
        self._clock = clock

    def _connection(self, target):
        """An http.client connection for ``target``, through the environment's proxy as the runner picks it.

        Like the runner (Go's net/http), and unlike urllib, it keeps the
        connection open (no "Connection: close"), which cntlm 0.92.3 needs to
        authenticate upstream. Returns (connection, request target, extra headers).
        """
        secure = target.scheme == "https"
        port = target.port or (443 if secure else 80)
        path = (target.path or "/") + ("?" + target.query if target.query else "")
        proxies = urllib.request.getproxies_environment()
        proxy = None if urllib.request.proxy_bypass_environment(target.hostname) else proxies.get(target.scheme)
        if not proxy:
            if secure:
                return http.client.HTTPSConnection(target.hostname, port, timeout=self.timeout, context=self._context), path, {}
            return http.client.HTTPConnection(target.hostname, port, timeout=self.timeout), path, {}
        through = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        authorization = {}
        if through.username is not None:
            pair = "%s:%s" % (urllib.parse.unquote(through.username), urllib.parse.unquote(through.password or ""))
            authorization = {"Proxy-Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        if secure:
            connection = http.client.HTTPSConnection(through.hostname, through.port or 80, timeout=self.timeout,
                                                     context=self._context)
            connection.set_tunnel(target.hostname, port, headers=authorization)
            return connection, path, {}
        absolute = urllib.parse.urlunsplit((target.scheme, target.netloc, target.path or "/", target.query, ""))
        return http.client.HTTPConnection(through.hostname, through.port or 80, timeout=self.timeout), absolute, authorization

    def _once(self, method, path, payload=None, data=None, headers=None):
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
        url = self.base + path
        connection, request_target, sent = self._connection(urllib.parse.urlsplit(url))
        sent["User-Agent"] = USER_AGENT
        if payload is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        try:
            connection.request(method, request_target, body=data, headers=sent)
            response = connection.getresponse()
            answer_headers = email.message.Message()
            for name, value in response.getheaders():
                answer_headers[name] = value
            return ApiResponse(response.status, answer_headers, response.read())
        except (http.client.HTTPException, OSError) as error:
            # Callers handle network errors as urllib's, as before.
            raise urllib.error.URLError(error) from None
        finally:
            connection.close()

    def call(self, method, path, payload=None, data=None, headers=None):
        """One API call with the runner's 429 handling; network errors raise urllib's URLError."""
        for _round in range(RATE_LIMIT_ROUNDS):
            response = self._once(method, path, payload, data, headers)
            if response.status != 429:
                return response
            wait = rate_limit_wait(response.headers, self._clock())
            if wait is None:
                return response
            self._sleep(wait)
        raise GaveUp("gave up due to rate limit")

    def register(self, registration_token, description, tag_list, run_untagged, locked, access_level,
                 maximum_timeout, paused, executor):
        return self.call("POST", "/runners", {
            "token": registration_token, "description": description, "tag_list": tag_list,
            "run_untagged": run_untagged, "locked": locked, "access_level": access_level,
            "maximum_timeout": maximum_timeout, "paused": paused, "info": runner_info(executor)})

    def verify(self, token, system_id):
        return self.call("POST", "/runners/verify", {"token": token, "system_id": system_id},
                         headers={"RUNNER-TOKEN": token})

    def unregister_runner(self, token):
        return self.call("DELETE", "/runners", {"token": token}, headers={"RUNNER-TOKEN": token})

    def unregister_manager(self, token, system_id):
        return self.call("DELETE", "/runners/managers", {"token": token, "system_id": system_id},
                         headers={"RUNNER-TOKEN": token})

    def reset_token(self, token):
        return self.call("POST", "/runners/reset_authentication_token", {"token": token},
                         headers={"RUNNER-TOKEN": token})

    def request_job(self, token, system_id, executor):
        return self.call("POST", "/jobs/request", {"token": token, "system_id": system_id,
                                                   "info": runner_info(executor), "last_update": ""},
                         headers={"RUNNER-TOKEN": token})

    def append_trace(self, job_id, job_token, offset, text):
        data = text.encode("utf-8")
        return self.call("PATCH", "/jobs/%d/trace" % job_id, data=data, headers={
            "JOB-TOKEN": job_token, "Content-Range": "%d-%d" % (offset, offset + len(data)),
            "Content-Type": "text/plain"})

    def finish_job(self, job_id, job_token, state, exit_code, failure_reason=None):
        payload = {"token": job_token, "state": state, "exit_code": exit_code}
        if failure_reason:
            payload["failure_reason"] = failure_reason
        return self.call("PUT", "/jobs/%d" % job_id, payload, headers={"JOB-TOKEN": job_token})
