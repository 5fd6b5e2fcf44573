# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gitlab-runner TEST DOUBLE: the CLI and service of the lab's stand-in for GitLab Runner.

It is not GitLab Runner. It exists so that the lab's tests can prove what a
real runner would see and do behind the corporate proxy: it reads config.toml
strictly, reaches the (fake) GitLab through the proxy variables of its own
environment, runs jobs with the host's docker CLI, and rewrites the whole
config.toml on register, unregister, verify --delete and token rotation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time
import urllib.error

import docker_executor
import gitlab_api
import runner_config

MTIME_CHECK_INTERVAL = 3.0
DEFAULT_CHECK_INTERVAL = 3
ROTATION_RETRY_INTERVAL = 5.0
TRACE_INTERVAL = 1.0
SERVER_SIDE_FLAGS = ("locked", "access_level", "run_untagged", "maximum_timeout", "paused", "tag_list",
                     "maintenance_note")
VERSION_TEXT = """Version:      %s
Git revision: double
Git branch:   lab
GO version:   none (Python test double)
Built:        lab
OS/Arch:      linux/amd64
*** TEST DOUBLE: this is NOT GitLab Runner. It is the behindproxy lab's stand-in. ***
""" % gitlab_api.VERSION


class Fatal(Exception):
    """Stop the command with this message and exit status 1 (the real runner's FATAL)."""


class Logger:
    def __init__(self, log_format="text", stream=None):
        self.log_format = log_format
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, level, message, **fields):
        with self._lock:
            if self.log_format == "json":
                record = dict(fields, level=level, msg=message,
                              time=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
                self.stream.write(json.dumps(record, sort_keys=True) + "\n")
            else:
                prefix = "" if level == "info" else level.upper() + ": "
                details = " ".join("%s=%s" % (key, fields[key]) for key in sorted(fields))
                self.stream.write(("%s%-50s %s" % (prefix, message, details)).rstrip() + "\n")
            self.stream.flush()


def short_token(token):
    """The runner's log identifier of a token: 8 characters after the glrt- prefix, never the whole token."""
    return (token[5:] if token.startswith("glrt-") else token)[:8]


def default_config_path():
    if os.environ.get("CONFIG_FILE"):
        return os.environ["CONFIG_FILE"]
    if os.geteuid() == 0:
        return "/etc/gitlab-runner/config.toml"
    return os.path.join(os.path.expanduser("~"), ".gitlab-runner", "config.toml")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def parse_expiry(value):
    """token_expires_at from an API answer (ISO 8601 or null) as a datetime, None for no expiry."""
    if not value or value.startswith("0001-01-01"):
        return None
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_config(path, log, missing_ok=False):
    if missing_ok and not os.path.exists(path):
        return runner_config.empty_document()
    try:
        document = runner_config.load(path)
    except runner_config.ConfigError as error:
        raise Fatal(str(error)) from None
    for warning in runner_config.unknown_key_report(document):
        log("warning", warning)
    return document


def select_runners(document, name=None, token=None, url=None):
    runners = document.get("runners", [])
    return [runner for runner in runners
            if (name is None or runner.get("name") == name)
            and (token is None or runner.get("token") == token)
            and (url is None or runner.get("url", "").rstrip("/") == url.rstrip("/"))]


def client_for(runner):
    return gitlab_api.GitLabClient(runner["url"], ca_file=runner.get("tls-ca-file"))


# --- register ----------------------------------------------------------------


def parse_env_flags(values):
    for value in values:
        if "=" not in value:
            raise Fatal("--env %r: expected NAME=value" % value)
    return list(values)


def new_runner_entry(arguments, credentials, now):
    """The [[runners]] table register appends, in the real runner's key order."""
    entry = {"name": arguments.name, "url": arguments.url, "id": credentials["id"], "token": credentials["token"]}
    entry.update(runner_config.token_times(parse_expiry(credentials.get("token_expires_at")), now))
    if arguments.tls_ca_file:
        entry["tls-ca-file"] = arguments.tls_ca_file
    entry["executor"] = arguments.executor
    if arguments.limit:
        entry["limit"] = arguments.limit
    if arguments.output_limit:
        entry["output_limit"] = arguments.output_limit
    if arguments.env:
        entry["environment"] = parse_env_flags(arguments.env)
    entry["cache"] = {"MaxUploadedArchiveSize": 0}
    if arguments.executor == "docker":
        docker = {"tls_verify": False, "image": arguments.docker_image or "", "privileged": arguments.docker_privileged,
                  "disable_entrypoint_overwrite": False, "oom_kill_disable": False, "disable_cache": False,
                  "volumes": list(arguments.docker_volumes or ["/cache"]), "shm_size": 0,
                  "network_mtu": 0}
        entry["docker"] = docker
    return entry


def check_no_server_side_flags(arguments):
    """Registering with a glrt- token: the real runner refuses the settings that live on the server."""
    given = [flag for flag in SERVER_SIDE_FLAGS if getattr(arguments, flag) is not None]
    if given:
        raise Fatal("Runner configuration other than name and executor configuration is reserved "
                    "(specifically --locked, --access-level, --run-untagged, --maximum-timeout, --paused, "
                    "--tag-list, and --maintenance-note) and cannot be configured when registering with a "
                    "runner authentication token. This configuration is specified on the GitLab server. "
                    "Please try again without specifying any of those arguments. (given: %s)"
                    % ", ".join("--" + flag.replace("_", "-") for flag in given))


def command_register(arguments, log):
    if not arguments.non_interactive:
        raise Fatal("the test double only registers with --non-interactive")
    for flag in arguments.unknown_flags:
        log("warning", "flag %s is accepted but ignored by the test double" % flag)
    token = arguments.token or arguments.registration_token
    missing = [name for name, value in (("--url", arguments.url), ("--token or --registration-token", token),
                                        ("--executor", arguments.executor)) if not value]
    if missing:
        raise Fatal("missing %s" % ", ".join(missing))
    if arguments.executor == "docker" and not arguments.docker_image:
        raise Fatal("--docker-image is required with --executor docker")
    parse_env_flags(arguments.env)
    uses_authentication_token = token.startswith("glrt-")
    if uses_authentication_token:
        check_no_server_side_flags(arguments)
    path = arguments.config
    document = load_config(path, log, missing_ok=True)
    system_id = runner_config.system_id(path)
    client = gitlab_api.GitLabClient(arguments.url, ca_file=arguments.tls_ca_file)
    if uses_authentication_token:
        response = client.verify(token, system_id)
        if response.status != 200:
            raise Fatal("Verifying runner... failed: status %d" % response.status)
        credentials = dict(response.json(), token=token)
    else:
        tags = [tag.strip() for tag in (arguments.tag_list or "").split(",") if tag.strip()]
        response = client.register(token, arguments.name, tags, arguments.run_untagged is not False,
                                   bool(arguments.locked), arguments.access_level or "not_protected",
                                   arguments.maximum_timeout or 0, bool(arguments.paused), arguments.executor)
        if response.status != 201:
            raise Fatal("Registering runner... failed: status %d%s" % (
                response.status, " (registration disabled)" if response.status == 410 else ""))
        credentials = response.json()
    document.setdefault("runners", []).append(new_runner_entry(arguments, credentials, utc_now()))
    runner_config.save(path, document)
    log("info", "Runner registered successfully. Feel free to start it, but if it's running already the config "
        "should be automatically reloaded!", runner=short_token(credentials["token"]))
    log("info", "Configuration (with the authentication token) was saved in %r" % path)
    return 0


# --- unregister, verify, list --------------------------------------------------


def unregister_one(runner, system_id):
    client = client_for(runner)
    if runner["token"].startswith("glrt-"):
        response = client.unregister_manager(runner["token"], system_id)
    else:
        response = client.unregister_runner(runner["token"])
    return response.status == 204


def command_unregister(arguments, log):
    path = arguments.config
    document = load_config(path, log)
    if arguments.all_runners:
        chosen = list(document.get("runners", []))
    elif arguments.name or arguments.token:
        chosen = select_runners(document, name=arguments.name, token=arguments.token, url=arguments.url)
        if not chosen:
            raise Fatal("Could not find a runner with the %s" % ("name %r" % arguments.name if arguments.name
                                                                 else "given token"))
    else:
        raise Fatal("unregister needs --name, --token or --all-runners")
    system_id = runner_config.system_id(path)
    removed = []
    for runner in chosen:
        if unregister_one(runner, system_id):
            removed.append(runner)
            log("info", "Unregistering runner from GitLab succeeded", runner=short_token(runner["token"]))
        else:
            log("error", "Failed to unregister runner", runner=short_token(runner["token"]), name=runner.get("name"))
    document["runners"] = [runner for runner in document.get("runners", []) if runner not in removed]
    if removed:
        runner_config.save(path, document)
        log("info", "Updated", config=path)
    return 0 if len(removed) == len(chosen) else 1


def command_verify(arguments, log):
    path = arguments.config
    document = load_config(path, log)
    system_id = runner_config.system_id(path)
    invalid = []
    for runner in select_runners(document, name=arguments.name):
        response = client_for(runner).verify(runner["token"], system_id)
        if response.status == 200:
            log("info", "Verifying runner... is valid", runner=short_token(runner["token"]))
        elif response.status == 403:
            log("error", "Verifying runner... is removed", runner=short_token(runner["token"]))
            invalid.append(runner)
        else:
            # Only GitLab's "forbidden" means the token is gone; anything else must not cost a runner.
            log("error", "Verifying runner... failed", runner=short_token(runner["token"]), status=response.status)
    if arguments.delete and invalid:
        document["runners"] = [runner for runner in document.get("runners", []) if runner not in invalid]
        runner_config.save(path, document)
        log("info", "Updated", config=path)
    return 0


def command_list(arguments, log):
    path = arguments.config
    log("info", "Listing configured runners", ConfigFile=path)
    document = load_config(path, log)
    for runner in document.get("runners", []):
        # The real runner prints the whole token here; automation parses it, so the double does too.
        log("info", runner.get("name", ""), Executor=runner.get("executor", ""), Token=runner.get("token", ""),
            URL=runner.get("url", ""))
    return 0


# --- run ---------------------------------------------------------------------


class TraceRejected(Exception):
    """GitLab refused a trace update (wrong offset, job no longer running)."""


class TraceSender:
    """Sends a job's output to GitLab while it runs, every `interval` seconds, like the runner does."""

    def __init__(self, client, job, interval=TRACE_INTERVAL):
        self.client = client
        self.job = job
        self.interval = interval
        self.sent_bytes = 0
        self.pending = ""
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._send_periodically, daemon=True)

    def start(self):
        self._thread.start()

    def add(self, text):
        with self._lock:
            self.pending += text

    def _send_periodically(self):
        while not self._stopped.wait(self.interval):
            try:
                self.flush()
            except (urllib.error.URLError, OSError, gitlab_api.GaveUp, TraceRejected):
                continue  # kept in `pending`; the final flush tries again and reports

    def flush(self):
        with self._lock:
            if not self.pending:
                return
            response = self.client.append_trace(self.job["id"], self.job["token"], self.sent_bytes, self.pending)
            if response.status != 202:
                raise TraceRejected("trace update answered %d" % response.status)
            self.sent_bytes += len(self.pending.encode("utf-8"))
            self.pending = ""

    def finish(self):
        """Stop the periodic updates and send what is left (raises when GitLab refuses it)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()


class Service:
    """`gitlab-runner run`: reload on change, rotate tokens, poll for jobs, run them."""

    def __init__(self, path, log, clock=utc_now):
        self.path = path
        self.log = log
        self.clock = clock
        self.system_id = runner_config.system_id(path)
        # A fresh package install has no config.toml yet: serve nothing and pick it up once written.
        self.document = load_config(path, log, missing_ok=True)
        self.mtime = os.stat(path).st_mtime_ns if os.path.exists(path) else None
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.running_jobs = []
        self.next_poll = {}
        self.next_rotation_attempt = {}

    def reload_if_changed(self):
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self.mtime and not self.reload_requested.is_set():
            return
        self.reload_requested.clear()
        self.mtime = mtime
        try:
            self.document = load_config(self.path, self.log)
        except Fatal as error:
            self.log("error", "Failed to load config, keeping the previous one: %s" % error)
            return
        self.log("info", "Configuration loaded", builds=len(self.running_jobs))

    def rotation_candidates(self, now):
        return [runner for runner in self.document.get("runners", [])
                if runner_config.rotation_due(runner.get("token_obtained_at"), runner.get("token_expires_at"), now)
                and time.monotonic() >= self.next_rotation_attempt.get(runner.get("token"), 0)]

    def rotate_tokens(self):
        now = self.clock()
        if not self.rotation_candidates(now):
            return
        # The rewrite below replaces the whole file: pick up an edit made since the last check first.
        self.reload_if_changed()
        changed = False
        for runner in self.rotation_candidates(now):
            try:
                response = client_for(runner).reset_token(runner["token"])
            except (urllib.error.URLError, OSError, gitlab_api.GaveUp) as error:
                response = None
                failure = {"error": getattr(error, "reason", error)}
            else:
                failure = {"status": response.status}
            if response is None or response.status != 201:
                self.next_rotation_attempt[runner["token"]] = time.monotonic() + ROTATION_RETRY_INTERVAL
                self.log("error", "Resetting runner authentication token failed", runner=short_token(runner["token"]),
                         **failure)
                continue
            answer = response.json()
            runner["token"] = answer["token"]
            runner.update(runner_config.token_times(parse_expiry(answer.get("token_expires_at")), now))
            self.log("info", "Runner authentication token reset", runner=short_token(runner["token"]))
            changed = True
        if changed:
            runner_config.save(self.path, self.document)
            self.mtime = os.stat(self.path).st_mtime_ns

    def free_slots(self):
        self.running_jobs = [job for job in self.running_jobs if job[1].is_alive()]
        return self.document.get("concurrent", 1) - len(self.running_jobs)

    def at_limit(self, runner):
        """The runner's own `limit` (0: none) is reached by the jobs it is running."""
        limit = runner.get("limit", 0)
        running = sum(1 for token, thread in self.running_jobs if token == runner.get("token") and thread.is_alive())
        return bool(limit) and running >= limit

    def poll(self):
        interval = self.document.get("check_interval") or DEFAULT_CHECK_INTERVAL
        for runner in self.document.get("runners", []):
            if self.free_slots() <= 0:
                return
            key = runner.get("token", "")
            if time.monotonic() < self.next_poll.get(key, 0) or self.at_limit(runner):
                continue
            self.next_poll[key] = time.monotonic() + interval
            self.poll_runner(runner)

    def poll_runner(self, runner):
        client = client_for(runner)
        try:
            response = client.request_job(runner["token"], self.system_id, runner.get("executor", "docker"))
        except (urllib.error.URLError, OSError, gitlab_api.GaveUp) as error:
            self.log("error", "Checking for jobs... failed: %s" % getattr(error, "reason", error),
                     runner=short_token(runner["token"]))
            return
        if response.status == 204:
            return
        if response.status != 201:
            self.log("error", "Checking for jobs... failed", runner=short_token(runner["token"]), status=response.status)
            return
        job = response.json()
        self.log("info", "Checking for jobs... received", job=job["id"], repo_url=job["git_info"].get("repo_url", ""),
                 runner=short_token(runner["token"]))
        thread = threading.Thread(target=self.run_job, args=(dict(runner), client, job), daemon=True)
        self.running_jobs.append((runner["token"], thread))
        thread.start()

    def run_job(self, runner, client, job):
        timeout = job.get("runner_info", {}).get("timeout") or 3600
        trace = TraceSender(client, job)
        trace.start()
        try:
            exit_code = docker_executor.JobRun(runner, job, timeout, on_output=trace.add).run()
        except (ValueError, OSError) as error:
            exit_code = 1
            trace.add("ERROR: Job failed (system failure): %s\n" % error)
        state = "success" if exit_code == 0 else "failed"
        trace.add("Job succeeded\n" if exit_code == 0 else "ERROR: Job failed: exit code %d\n" % exit_code)
        try:
            trace.finish()
            client.finish_job(job["id"], job["token"], state, exit_code,
                              None if exit_code == 0 else "script_failure")
        except (urllib.error.URLError, OSError, gitlab_api.GaveUp, TraceRejected) as error:
            self.log("error", "Submitting job result failed: %s" % getattr(error, "reason", error), job=job["id"])
            return
        self.log("info", "Job %s" % ("succeeded" if exit_code == 0 else "failed"), job=job["id"],
                 exit_code=exit_code, runner=short_token(runner["token"]))

    def serve(self):
        self.log("info", "Starting multi-runner (TEST DOUBLE) from %s..." % self.path,
                 builds=0, max_builds=self.document.get("concurrent", 1))
        last_mtime_check = 0.0
        while not self.stopping.is_set():
            if time.monotonic() - last_mtime_check >= MTIME_CHECK_INTERVAL or self.reload_requested.is_set():
                last_mtime_check = time.monotonic()
                self.reload_if_changed()
            self.rotate_tokens()
            self.poll()
            self.stopping.wait(0.5)
        for _token, thread in self.running_jobs:
            thread.join()
        self.log("info", "All workers stopped. Can exit now")
        return 0


def command_run(arguments, log):
    service = Service(arguments.config, log)
    signal.signal(signal.SIGHUP, lambda *_: service.reload_requested.set())
    signal.signal(signal.SIGTERM, lambda *_: service.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: service.stopping.set())
    return service.serve()


# --- arguments ---------------------------------------------------------------


def add_config_flag(parser):
    parser.add_argument("-c", "--config", default=default_config_path(), help="config file")


def build_parser():
    parser = argparse.ArgumentParser(prog="gitlab-runner", description="gitlab-runner TEST DOUBLE (not GitLab Runner)")
    parser.add_argument("-v", "--version", action="store_true")
    parser.add_argument("--log-format", dest="global_log_format", choices=("text", "json", "runner"))
    parser.add_argument("--debug", action="store_true")
    commands = parser.add_subparsers(dest="command")

    listing = commands.add_parser("list")
    add_config_flag(listing)
    listing.add_argument("--log-format", choices=("text", "json", "runner"))

    verify = commands.add_parser("verify")
    add_config_flag(verify)
    verify.add_argument("--delete", action="store_true")
    verify.add_argument("-n", "--name")
    verify.add_argument("--log-format", choices=("text", "json", "runner"))

    run = commands.add_parser("run")
    add_config_flag(run)
    run.add_argument("-d", "--working-directory")
    run.add_argument("-u", "--user")
    run.add_argument("--service")
    run.add_argument("--syslog", action="store_true")
    run.add_argument("--log-format", choices=("text", "json", "runner"))

    register = commands.add_parser("register")
    add_config_flag(register)
    register.add_argument("-n", "--non-interactive", action="store_true")
    register.add_argument("-u", "--url", default=os.environ.get("CI_SERVER_URL"))
    register.add_argument("-t", "--token", default=os.environ.get("CI_SERVER_TOKEN"))
    register.add_argument("-r", "--registration-token", default=os.environ.get("REGISTRATION_TOKEN"))
    register.add_argument("--name", "--description", dest="name", default=os.environ.get("RUNNER_NAME", os.uname().nodename))
    register.add_argument("--executor", default=os.environ.get("RUNNER_EXECUTOR"))
    register.add_argument("--docker-image", default=os.environ.get("DOCKER_IMAGE"))
    register.add_argument("--env", action="append", default=[])
    register.add_argument("--tag-list", default=None)
    register.add_argument("--locked", type=parse_bool, nargs="?", const=True, default=None)
    register.add_argument("--run-untagged", type=parse_bool, nargs="?", const=True, default=None)
    register.add_argument("--paused", type=parse_bool, nargs="?", const=True, default=None)
    register.add_argument("--access-level", choices=("not_protected", "ref_protected"), default=None)
    register.add_argument("--maximum-timeout", type=int, default=None)
    register.add_argument("--maintenance-note", default=None)
    register.add_argument("--limit", type=int, default=0)
    register.add_argument("--output-limit", type=int, default=0)
    register.add_argument("--docker-volumes", action="append")
    register.add_argument("--docker-privileged", type=parse_bool, nargs="?", const=True, default=False)
    register.add_argument("--tls-ca-file")
    register.add_argument("--log-format", choices=("text", "json", "runner"))

    unregister = commands.add_parser("unregister")
    add_config_flag(unregister)
    unregister.add_argument("-n", "--name")
    unregister.add_argument("-t", "--token")
    unregister.add_argument("-u", "--url")
    unregister.add_argument("--all-runners", action="store_true")
    unregister.add_argument("--log-format", choices=("text", "json", "runner"))
    return parser


def parse_bool(value):
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError("expected true or false, got %r" % value)


def parse_arguments(argv):
    """Parse the command line; like the real runner, register accepts flags it does not know (with a warning)."""
    parser = build_parser()
    arguments, unknown = parser.parse_known_args(argv)
    if unknown and arguments.command != "register":
        parser.error("unrecognized arguments: %s" % " ".join(unknown))
    arguments.unknown_flags = [flag for flag in unknown if flag.startswith("-")]
    return parser, arguments


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, arguments = parse_arguments(argv)
    if arguments.version:
        sys.stdout.write(VERSION_TEXT)
        return 0
    if not arguments.command:
        parser.print_help(sys.stderr)
        return 1
    log_format = getattr(arguments, "log_format", None) or arguments.global_log_format or "text"
    log = Logger("json" if log_format == "json" else "text")
    commands = {"list": command_list, "verify": command_verify, "run": command_run, "register": command_register,
                "unregister": command_unregister}
    try:
        return commands[arguments.command](arguments, log)
    except Fatal as error:
        log("fatal", str(error))
        return 1
    except gitlab_api.GaveUp as error:
        log("fatal", str(error))
        return 1
    except urllib.error.URLError as error:
        log("fatal", "cannot reach GitLab: %s" % error.reason)
        return 1


if __name__ == "__main__":
    sys.exit(main())
