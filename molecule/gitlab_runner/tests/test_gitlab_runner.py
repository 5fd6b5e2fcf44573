# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gitlab-runner behind cntlm: its package, its service, its three runners and their jobs.

The runner on the host is the real gitlab-runner 19.4.0, built from its Go
module (tests/lab/runner); what is checked is what the collection wrote, what
the runner did with it and what crossed the proxy, seen in corp-proxy's log
and the fake GitLab's.
"""

import json
import re
import subprocess
import time
import urllib.request

import labtest
import proxylog

LAB = labtest.lab_env()
HOST = "behindproxy-gitlabrunner-host"
# From the statement (behindproxy_proxy): the service and apt reach cntlm on
# loopback, the jobs on the docker0 address; NO_PROXY with loopback and docker0.
HOST_PROXY = "http://127.0.0.1:3128"
LOCAL_PROXY = "http://172.17.0.1:3128"
DIRECT = "localhost,127.0.0.1,::1,172.17.0.1"
CONFIG = "/etc/gitlab-runner/config.toml"
RUNNERS = {"lab-token": "via-token", "lab-legacy": "via-registration", "lab-api": "via-api"}
NTLM_USER = LAB["ntlm"]["logged_as"]
REGISTRATION_TOKEN = "GR1348941lab-registration-token"
ACCESS_TOKEN = "glpat-lab-personal-access-token"
# Every runner token the lab hands out during the checks, rotated and removed
# ones included: the last check searches the host and the output for them.
TOKENS_SEEN = set()
# The checks that change only the runners, the repository or its key
# converge the gitlab_runner role alone: the other roles' tasks would find
# nothing to do.
ROLE_ONLY = "gitlab_runner"


def config(host):
    """config.toml as data, read with tomllib on the host."""
    script = "import json, sys, tomllib; print(json.dumps(tomllib.load(open(sys.argv[1], 'rb')), default=str))"
    return json.loads(host.check_output(f"python3 -c \"{script}\" {CONFIG}"))


def runner_entries(host):
    return {runner["name"]: runner for runner in config(host).get("runners", [])}


def environment_of(entry):
    return dict(item.split("=", 1) for item in entry.get("environment", []))


def service_environment(host):
    shown = host.check_output("systemctl show --property=Environment gitlab-runner")
    return sorted(shown.removeprefix("Environment=").split())


def test_both_packages_came_from_the_lab_repository_and_are_held(host):
    for package in ("gitlab-runner", "gitlab-runner-helper-images"):
        assert host.package(package).is_installed
        assert "packages.lab.test" in host.check_output(f"apt-cache policy {package}")
    assert sorted(host.check_output("apt-mark showhold").split()) == ["gitlab-runner", "gitlab-runner-helper-images"]
    source = host.file("/etc/apt/sources.list.d/gitlab-runner.list").content_string
    assert "[signed-by=/etc/apt/keyrings/gitlab-runner.asc] http://packages.lab.test/ bookworm main" in source


def test_the_source_gitlabs_script_wrote_was_taken_over(host):
    # Written in prepare with another keyring; commented out by the first converge, which said where.
    taken = host.file("/etc/apt/sources.list.d/runner_gitlab-runner.list").content_string
    assert "Taken over by behindproxy.gitlab_runner: this repository's one source is in " \
           "/etc/apt/sources.list.d/gitlab-runner.list" in taken
    assert [line for line in taken.splitlines() if line.strip() and not line.startswith("#")] == []
    update = host.run("apt-get update -q")
    assert update.rc == 0 and "Conflicting" not in update.stderr, update.stderr


def test_a_converge_takes_over_a_deb822_source_of_the_repository_and_apt_works_again(host):
    # A host whose runner repository someone configured by hand, in deb822 form, with a keyring of their own
    # (the lab's key under the script's name): apt works with that one source, until the role adds its own.
    own = "/etc/apt/sources.list.d/gitlab-runner.list"
    by_hand = "/etc/apt/sources.list.d/runner-by-hand.sources"
    host.run_expect([0], f"mv {own} /root/gitlab-runner.list.saved")
    host.run_expect([0], f"printf 'Types: deb\\nURIs: http://packages.lab.test\\nSuites: bookworm\\n"
                         f"Components: main\\nSigned-By: /usr/share/keyrings/runner_gitlab-runner-archive-keyring.asc\\n'"
                         f" > {by_hand}")
    try:
        assert host.run("apt-get update -q").rc == 0
        run, _changed = converge()
        assert by_hand in " ".join((run.stdout + run.stderr).replace("\\", " ").split())
        update = host.run("apt-get update -q")
        assert update.rc == 0 and "Conflicting" not in update.stderr, update.stderr
        assert host.file(own).exists
        assert all(line.startswith("#") or not line.strip()
                   for line in host.file(by_hand).content_string.splitlines())
    finally:
        saved = "/root/gitlab-runner.list.saved"
        host.run(f"rm -f {by_hand}; test -e {own} || mv {saved} {own}; rm -f {saved}")


def test_only_the_repository_host_goes_through_cntlm(host):
    apt_proxy = host.file("/etc/apt/apt.conf.d/80gitlab-runner-proxy").content_string
    assert f'Acquire::http::Proxy::packages.lab.test "{HOST_PROXY}";' in apt_proxy
    mark = proxylog.mark()
    host.run_expect([0], "apt-get update -q")
    entries = proxylog.wait_for(lambda entry: entry.host == "packages.lab.test" and entry.status != 407, since=mark)
    assert {entry.user for entry in entries} == {NTLM_USER}
    # Debian's archive still goes the way the host had it (Basic, set in prepare).
    debian = [entry for entry in proxylog.entries_since(mark) if entry.host == "deb.debian.org" and entry.user]
    assert debian and {entry.user for entry in debian} == {LAB["basic"]["user"]}


def test_the_service_has_exactly_the_proxy_and_runs(host):
    assert host.service("gitlab-runner").is_running
    proxy_variables = [item for item in service_environment(host) if item.split("=", 1)[0].lower().endswith("_proxy")]
    assert proxy_variables == sorted([
        f"HTTP_PROXY={HOST_PROXY}", f"http_proxy={HOST_PROXY}",
        f"HTTPS_PROXY={HOST_PROXY}", f"https_proxy={HOST_PROXY}",
        f"NO_PROXY={DIRECT}", f"no_proxy={DIRECT}",
    ])


def test_config_toml_holds_the_three_runners_set_for_the_proxy(host):
    entries = runner_entries(host)
    assert sorted(entries) == sorted(RUNNERS)
    assert config(host)["concurrent"] == 3
    for name, entry in entries.items():
        environment = environment_of(entry)
        assert environment["HTTP_PROXY"] == environment["http_proxy"] == LOCAL_PROXY, name
        assert environment["NO_PROXY"] == environment["no_proxy"] == DIRECT, name
        assert environment["COMPOSE_PROJECT_NAME"] == "ci-job-${CI_JOB_ID}", name
        assert entry["pre_get_sources_script"].count("=http.proxy") == 1, name
        assert entry["docker"]["image"] == "behindproxy/job-busybox:lab", name
        assert entry["token"] and entry["id"], name
    assert host.file(CONFIG).mode == 0o600


def last_request(gitlab):
    log = gitlab.request_log()
    return log[-1]["seq"] if log else 0


def test_a_converge_verifies_through_cntlm_and_changes_nothing(host):
    gitlab = labtest.gitlab()
    since = last_request(gitlab)
    mark = proxylog.mark()
    again = labtest.run_playbook("converge.yml")
    assert again.returncode == 0, again.stdout[-3000:]
    assert labtest.recap(again.stdout)[HOST]["changed"] == 0
    to_gitlab = proxylog.wait_for(lambda entry: entry.host == "gitlab.lab.test" and entry.status in (200, 201),
                                  since=mark)
    assert {entry.user for entry in to_gitlab} == {NTLM_USER}
    created = [entry for entry in gitlab.request_log(since)
               if entry.get("method") == "POST" and entry.get("path") in ("/api/v4/runners", "/api/v4/user/runners")]
    assert created == []


def test_a_job_on_each_runner_clones_through_cntlm(host):
    gitlab = labtest.gitlab()
    for name, tag in RUNNERS.items():
        mark = proxylog.mark()
        job = gitlab.queue_job([f"echo job for {name}", "cat README*"], repo_url=LAB["git"]["url"], tags=[tag])
        result = gitlab.wait_for_job_result(job, timeout=120)
        assert result["status"] == "success", (name, result.get("trace"))
        clones = proxylog.wait_for(lambda entry: entry.host == "git.lab.test" and entry.status == 200, since=mark)
        assert {entry.user for entry in clones} == {NTLM_USER}, name


def test_changed_tags_of_the_api_runner_are_synced_then_left_alone(host):
    changed = labtest.run_playbook("converge.yml", {"lab_api_tags": ["via-api", "second"]}, tags=ROLE_ONLY)
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert labtest.recap(changed.stdout)[HOST]["changed"] == 1
    runner_id = runner_entries(host)["lab-api"]["id"]
    on_server = [runner for runner in labtest.gitlab().runners() if runner["id"] == runner_id]
    assert sorted(on_server[0]["tag_list"]) == ["second", "via-api"]

    again = labtest.run_playbook("converge.yml", {"lab_api_tags": ["via-api", "second"]}, tags=ROLE_ONLY)
    assert labtest.recap(again.stdout)[HOST]["changed"] == 0
    # The next converge of the inventory as it is (in a later check) puts
    # the tags back: converges are shared between checks to save time.


def test_a_key_the_runner_does_not_know_fails_before_any_runner_is_registered(host):
    # Seed 002's mistake: DOCKER_AUTH_CONFIG under [runners.docker] environment,
    # a key the runner does not have (it belongs to the runner's environment).
    gitlab = labtest.gitlab()
    before, since = host.file(CONFIG).sha256sum, last_request(gitlab)
    wrong = {"name": "lab-wrong-key", "url": LAB["gitlab"]["http_url"], "registration_token": REGISTRATION_TOKEN,
             "settings": {"docker": {"image": "behindproxy/job-busybox:lab",
                                     "environment": ['DOCKER_AUTH_CONFIG={"credsStore": "ecr-login"}']}}}
    refused = labtest.run_playbook("converge.yml", {"lab_extra_runners": [wrong]}, tags=ROLE_ONLY)
    assert refused.returncode != 0
    output = " ".join((refused.stdout + refused.stderr).replace("\\", " ").split())
    assert "docker.environment" in output and "unknown key" in output, output[-3000:]
    assert host.file(CONFIG).sha256sum == before
    assert [entry for entry in gitlab.request_log(since) if entry.get("method") == "POST"
            and entry.get("path") in ("/api/v4/runners", "/api/v4/user/runners")] == []


def test_an_unaccepted_key_fails_naming_its_fingerprint(host):
    keyring = host.file("/etc/apt/keyrings/gitlab-runner.asc").sha256sum
    refused = labtest.run_playbook("converge.yml", {"gitlab_runner_repository_key_fingerprints": ["0" * 40]},
                                   tags=ROLE_ONLY)
    assert refused.returncode != 0
    # The message may be on stderr ([ERROR]) or folded by the YAML callback
    # (which escapes some spaces with a backslash).
    output = (refused.stdout + refused.stderr).replace("\\", " ")
    assert "none of which is accepted" in " ".join(output.split())
    assert host.file("/etc/apt/keyrings/gitlab-runner.asc").sha256sum == keyring


def remember_tokens(host):
    TOKENS_SEEN.update(entry["token"] for entry in runner_entries(host).values())


def converge(extra_runners=None, **extra_vars):
    """A converge with more runners (lab_extra_runners) and variables; its output is checked to have passed."""
    if extra_runners is not None:
        extra_vars["lab_extra_runners"] = extra_runners
    run = labtest.run_playbook("converge.yml", extra_vars, tags=ROLE_ONLY)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return run, labtest.recap(run.stdout)[HOST]["changed"]


def docker_settings():
    return {"docker": {"image": "behindproxy/job-busybox:lab", "pull_policy": ["if-not-present"]}}


def create_runner_in_gitlab(tag):
    """A runner created in GitLab with the lab's access token, as a user does in the UI: its glrt- token."""
    request = urllib.request.Request(
        LAB["gitlab"]["controller_api_url"] + "/api/v4/user/runners", method="POST",
        data=json.dumps({"runner_type": "instance_type", "tag_list": [tag], "run_untagged": False}).encode(),
        headers={"PRIVATE-TOKEN": ACCESS_TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        created = json.load(answer)
    TOKENS_SEEN.add(created["token"])
    return created["id"], created["token"]


def server_runner(runner_id):
    found = [runner for runner in labtest.gitlab().runners() if runner["id"] == runner_id]
    return found[0] if found else None


def test_the_runner_service_polls_for_jobs_through_cntlm(host):
    mark = proxylog.mark()
    polls = proxylog.wait_for(lambda entry: entry.host == "gitlab.lab.test" and "/api/v4/jobs/request" in entry.url
                              and entry.status != 407, since=mark, timeout=30)
    assert {entry.user for entry in polls} == {NTLM_USER}


def test_a_job_fetches_a_file_over_http_through_cntlm(host):
    labtest.assert_a_job_fetches_through_cntlm(tags=["via-token"])


def test_a_runner_without_the_proxy_fails_its_job_until_a_converge_puts_it_back(host):
    gitlab = labtest.gitlab()
    cleared = {name: "" for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")}
    edited = labtest.run_module(HOST, "behindproxy.gitlab_runner.runner_config",
                                {"path": CONFIG, "name": "lab-token", "environment": cleared})
    assert edited.get("changed") is True, edited
    time.sleep(3)  # the runner reloads config.toml when it changes
    job = gitlab.queue_job(["cat README*"], repo_url=LAB["git"]["url"], tags=["via-token"])
    assert gitlab.wait_for_job_result(job, timeout=120)["status"] == "failed"

    _run, changed = converge()
    assert changed >= 1
    assert environment_of(runner_entries(host)["lab-token"])["HTTP_PROXY"] == LOCAL_PROXY
    time.sleep(3)
    job = gitlab.queue_job(["cat README*"], repo_url=LAB["git"]["url"], tags=["via-token"])
    result = gitlab.wait_for_job_result(job, timeout=120)
    assert result["status"] == "success", result.get("trace")


def registrations_since(gitlab, since):
    return [entry for entry in gitlab.request_log(since)
            if entry.get("method") == "POST" and entry.get("path") == "/api/v4/runners"]


def register_one(path, name, max_wait=300):
    return labtest.run_playbook("register-one.yml", {"lab_register": {
        "path": path, "name": name, "url": LAB["gitlab"]["http_url"], "registration_token": REGISTRATION_TOKEN,
        "max_wait": max_wait}})


# (mode, 429 answers, seconds the fake GitLab asks for, least wait the rules give, most wait)
RATE_LIMITS = [
    ("reset-time", 2, 2, 0.9, 4),           # until RateLimit-ResetTime (a date, to the second)
    ("retry-after", 2, 2, 1.9, 4),          # Retry-After seconds
    ("none", 3, 0, 0.0, 5),                 # backoff from 0.1 s
    ("invalid-reset-time", 1, 2, 59, 75),   # an unparsable reset time: 60 s
]


def test_registration_waits_out_each_kind_of_rate_limit(host):
    gitlab = labtest.gitlab()
    try:
        for mode, count, seconds, least, most in RATE_LIMITS:
            since = last_request(gitlab)
            gitlab.set_rate_limit(count, mode=mode, seconds=seconds, routes=["register"])
            run = register_one(f"/root/ratelimit-{mode}/config.toml", f"lab-ratelimit-{mode}")
            assert run.returncode == 0, (mode, run.stdout[-3000:])
            attempts = registrations_since(gitlab, since)
            assert [entry["status"] for entry in attempts] == [429] * count + [201], mode
            waits = [later["time"] - earlier["time"] for earlier, later in zip(attempts, attempts[1:])]
            assert all(least <= wait <= most for wait in waits), (mode, waits)
    finally:
        gitlab.set_rate_limit(0, mode="none")
        host.run("rm -rf /root/ratelimit-*")


def test_a_rate_limit_that_does_not_end_fails_after_five_attempts_and_changes_nothing(host):
    gitlab = labtest.gitlab()
    before = host.file(CONFIG).sha256sum
    since = last_request(gitlab)
    gitlab.set_rate_limit(100, mode="retry-after", seconds=1, routes=["register"])
    try:
        run = register_one(CONFIG, "lab-storm")
    finally:
        gitlab.set_rate_limit(0, mode="none")
    assert run.returncode != 0
    assert "gave up due to rate limit" in run.stdout + run.stderr
    assert [entry["status"] for entry in registrations_since(gitlab, since)] == [429] * 5
    assert host.file(CONFIG).sha256sum == before


def wait_for_token_change(host, name, old, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        token = runner_entries(host)[name]["token"]
        if token != old:
            return token
        time.sleep(1)
    raise AssertionError(f"the runner did not rotate the token of {name} within {timeout}s")


ROTATING = {"name": "lab-rotating", "url": LAB["gitlab"]["http_url"], "registration_token": REGISTRATION_TOKEN,
            "tags": ["via-rotating"], "run_untagged": False, "settings": docker_settings()}


def test_a_token_the_runner_rotated_is_kept(host):
    gitlab = labtest.gitlab()
    remember_tokens(host)
    # Long enough to outlast the converge that registers it (the runner
    # rotates at 75 % of the lifetime).
    gitlab.set_token_lifetime(60)
    try:
        _run, changed = converge([ROTATING])
        first = runner_entries(host)["lab-rotating"]
    finally:
        # The rotated token then has no expiry: nothing moves under the next converge.
        gitlab.set_token_lifetime(0)
    assert changed >= 1
    assert first["token_expires_at"].startswith(time.strftime("%Y")), first["token_expires_at"]
    rotated = wait_for_token_change(host, "lab-rotating", first["token"])
    TOKENS_SEEN.update((first["token"], rotated))
    # The runner itself rotated it, as its journal says.
    journal = re.sub(r"\x1b\[[0-9;]*m", "", host.check_output("journalctl -u gitlab-runner --no-pager -o cat"))
    assert [line for line in journal.splitlines()
            if "Resetting runner authentication token... succeeded" in line and "runner_name=lab-rotating" in line]

    _run, changed = converge([ROTATING])
    assert changed == 0
    assert runner_entries(host)["lab-rotating"]["token"] == rotated


def test_unlisted_and_absent_runners_are_taken_off_gitlab_and_out_of_config_toml(host):
    others_before = {name: entry["token"] for name, entry in runner_entries(host).items() if name in RUNNERS}
    rotating_id = runner_entries(host)["lab-rotating"]["id"]

    # A runner the list does not name (lab-rotating, legacy) is left alone by default...
    _run, changed = converge([])
    assert changed == 0 and "lab-rotating" in runner_entries(host)
    # ...and with gitlab_runner_remove_unlisted unregistered (a legacy runner: deleted) and its entry removed.
    _run, changed = converge([], gitlab_runner_remove_unlisted=True)
    assert changed >= 1
    assert "lab-rotating" not in runner_entries(host) and server_runner(rotating_id) is None

    # An authentication-token runner gets this host as its manager; with state: absent it loses it, and the
    # runner stays in GitLab (it may have other hosts).
    extra_id, extra_token = create_runner_in_gitlab("via-extra")
    extra = {"name": "lab-extra", "url": LAB["gitlab"]["http_url"], "token": extra_token, "settings": docker_settings()}
    _run, changed = converge([extra])
    assert changed >= 1 and len(server_runner(extra_id)["managers"]) == 1
    _run, changed = converge([dict(extra, state="absent")])
    assert changed >= 1
    assert "lab-extra" not in runner_entries(host)
    assert server_runner(extra_id) is not None and server_runner(extra_id)["managers"] == []

    assert {name: entry["token"] for name, entry in runner_entries(host).items()} == others_before


def apt_update(host):
    return host.run("apt-get update -q -o APT::Update::Error-Mode=any")


def test_a_new_vendor_key_that_is_accepted_is_installed_and_apt_works_again(host):
    rotated = subprocess.run([str(labtest.LAB_DIRECTORY / "bin" / "lab"), "new-apt-key"],
                             capture_output=True, text=True, check=False)
    assert rotated.returncode == 0, rotated.stderr
    broken = apt_update(host)
    assert broken.rc != 0 and "packages.lab.test" in broken.stdout + broken.stderr

    # converge.yml accepts the fingerprint of the key the lab now serves.
    _run, changed = converge()
    assert changed >= 1
    fixed = apt_update(host)
    assert fixed.rc == 0, fixed.stdout + fixed.stderr
    # The converge after this one (the next check's) reports 0 changed.


def test_no_secret_in_output_journals_command_lines_readable_files_or_the_proxy_log(host):
    remember_tokens(host)
    secrets = {LAB["ntlm"]["password"]: [LAB["ntlm"]["user"]], LAB["basic"]["password"]: [LAB["basic"]["user"]],
               REGISTRATION_TOKEN: [], ACCESS_TOKEN: []}
    secrets.update((token, []) for token in TOKENS_SEEN)

    # A -vvv --diff converge, with the process tables of the host and the
    # controller sampled while it runs.
    run, command_lines = labtest.run_playbook_sampling_command_lines(HOST, "converge.yml", verbosity=3, diff=True)
    assert run.returncode == 0, run.stdout[-3000:]
    # Shared with the key change of the check before: it is complete.
    assert labtest.recap(run.stdout)[HOST]["changed"] == 0
    assert len(command_lines) >= 10
    found = labtest.find_secrets(HOST, labtest.secret_forms(secrets), {
        "converge output at -vvv --diff": run.stdout + run.stderr,
        "process tables (%d samples)" % len(command_lines): "\n".join(command_lines),
    })
    assert found == {}, "secrets found"
