# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of the fake GitLab's control API, for testinfra verifiers and unit tests.

Standard library only. The control port is reached directly (never through a
proxy): the controller talks to it, the lab's hosts cannot.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

FINISHED_STATES = ("success", "failed", "canceled")


class ControlError(Exception):
    """The control API refused a request; the message is the server's."""


class FakeGitLabControl:
    def __init__(self, base_url, timeout=10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            message = error.read().decode("utf-8", errors="replace")
            raise ControlError("%s %s -> %d: %s" % (method, path, error.code, message)) from None
        return json.loads(body) if body else None

    def state(self):
        return self._call("GET", "/state")

    def runners(self):
        return self.state()["runners"]

    def queue_job(self, script, image=None, variables=None, repo_url=None, ref="main", services=None, tags=None, name=None,
                  timeout=None, sha=None, ref_type=None, depth=None, after_script=None, stage=None, credentials=None,
                  repo_url_credentials=None, final_update_202_count=None, inputs=None):
        """Queue a job; returns its id. `script` is a list of shell lines, `timeout` in seconds.

        `sha`: the commit to check out (default: `ref` resolved in the repository, see
        the server's resolve_sha); `ref_type`: branch or tag; `depth`: GIT_DEPTH (0: full);
        `credentials`: registry credentials, [{type, url, username, password}];
        `repo_url_credentials`: force the job token into repo_url (or keep it out);
        `final_update_202_count`: answer the runner's final update 202 this many times;
        `inputs`: job inputs, [{key, value: {type, content, sensitive}}] (default: the job has none).
        Without `repo_url` the job runs without sources (GIT_STRATEGY=none).
        """
        spec = {"script": list(script), "variables": dict(variables or {}), "services": list(services or []),
                "tags": list(tags or []), "ref": ref}
        for key, value in (("image", image), ("repo_url", repo_url), ("name", name), ("timeout", timeout),
                           ("sha", sha), ("ref_type", ref_type), ("depth", depth), ("stage", stage),
                           ("repo_url_credentials", repo_url_credentials),
                           ("final_update_202_count", final_update_202_count), ("inputs", inputs)):
            if value is not None:
                spec[key] = value
        if after_script is not None:
            spec["after_script"] = list(after_script)
        if credentials is not None:
            spec["credentials"] = [dict(credential) for credential in credentials]
        return self._call("POST", "/jobs", spec)["id"]

    def cancel_job(self, job_id):
        """Cancel a job as GitLab does: pending at once, running gracefully (canceling) or hard (canceled)."""
        return self._call("POST", "/jobs/%d/cancel" % job_id, {})

    def job_result(self, job_id):
        return self._call("GET", "/jobs/%d" % job_id)

    def wait_for_job_result(self, job_id, timeout=120, interval=0.5):
        """Poll until the job has finished; raise TimeoutError with its last state otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.job_result(job_id)
            if result["status"] in FINISHED_STATES:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError("job %d still %s after %ss" % (job_id, result["status"], timeout))
            time.sleep(interval)

    def request_log(self, since=0):
        """API requests seen so far (after sequence number `since`): method, path, status, client, user_agent, ..."""
        return self._call("GET", "/requests?since=%d" % since)

    def set_rate_limit(self, count, mode="reset-time", seconds=2, routes=None, status=429):
        """Answer the next `count` API requests with `status` (429 or 5xx); mode: reset-time, invalid-reset-time,
        none, retry-after.

        routes: only requests to these routes (names of the server's
        API_ROUTES, such as "register" or "verify") count and are refused.
        """
        return self._call("POST", "/rate_limit", {"count": count, "mode": mode, "seconds": seconds, "routes": routes,
                                                  "status": status})

    def set_long_polling(self, seconds):
        """Hold jobs/request up to `seconds` when nothing changed for the runner (0: answer at once)."""
        return self._call("POST", "/long_polling", {"seconds": seconds})

    def set_trace_update_interval(self, seconds):
        """The X-GitLab-Trace-Update-Interval sent to runners from now on."""
        return self._call("POST", "/trace_update_interval", {"seconds": seconds})

    def set_token_lifetime(self, seconds):
        """Lifetime of runner tokens issued from now on (0: they never expire)."""
        return self._call("POST", "/token_lifetime", {"seconds": seconds})

    def add_registration_token(self, token):
        return self._call("POST", "/registration_tokens", {"token": token})

    def set_registration_enabled(self, enabled):
        return self._call("POST", "/registration", {"enabled": enabled})

    def add_personal_access_token(self, token, scopes=("create_runner",)):
        return self._call("POST", "/personal_access_tokens", {"token": token, "scopes": list(scopes)})
