# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gitlab-runner behind cntlm: its package, its service, its three runners and their jobs.

The runner on the host is the lab's test double (the real runner cannot be
built here); what is checked is what the collection wrote and what crossed
the proxy, seen in corp-proxy's log and the fake GitLab's.
"""

import json

import labtest
import proxylog

LAB = labtest.lab_env()
HOST = "behindproxy-gitlabrunner-host"
LOCAL_PROXY = "http://172.17.0.1:3128"
CONFIG = "/etc/gitlab-runner/config.toml"
RUNNERS = {"lab-token": "via-token", "lab-legacy": "via-registration", "lab-api": "via-api"}
NTLM_USER = LAB["ntlm"]["logged_as"]


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


def test_only_the_repository_host_goes_through_cntlm(host):
    apt_proxy = host.file("/etc/apt/apt.conf.d/80gitlab-runner-proxy").content_string
    assert f'Acquire::http::Proxy::packages.lab.test "{LOCAL_PROXY}";' in apt_proxy
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
        f"HTTP_PROXY={LOCAL_PROXY}", f"http_proxy={LOCAL_PROXY}",
        f"HTTPS_PROXY={LOCAL_PROXY}", f"https_proxy={LOCAL_PROXY}",
        "NO_PROXY=localhost,127.0.0.1,172.17.0.1", "no_proxy=localhost,127.0.0.1,172.17.0.1",
    ])


def test_config_toml_holds_the_three_runners_set_for_the_proxy(host):
    entries = runner_entries(host)
    assert sorted(entries) == sorted(RUNNERS)
    assert config(host)["concurrent"] == 3
    for name, entry in entries.items():
        environment = environment_of(entry)
        assert environment["HTTP_PROXY"] == environment["http_proxy"] == LOCAL_PROXY, name
        assert environment["NO_PROXY"] == environment["no_proxy"] == "localhost,127.0.0.1,172.17.0.1", name
        assert environment["COMPOSE_PROJECT_NAME"] == "ci-job-${CI_JOB_ID}", name
        assert entry["pre_get_sources_script"].count("git config --global http.proxy") == 1, name
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


def test_a_verbose_diff_converge_shows_no_secret(host):
    secrets = [LAB["ntlm"]["password"], LAB["basic"]["password"], "GR1348941lab-registration-token",
               "glpat-lab-personal-access-token"]
    secrets += [entry["token"] for entry in runner_entries(host).values()]
    run = labtest.run_playbook("converge.yml", verbosity=3, diff=True)
    assert run.returncode == 0, run.stdout[-3000:]
    output = run.stdout + run.stderr
    assert [secret for secret in secrets if secret in output] == []


def test_changed_tags_of_the_api_runner_are_synced_then_left_alone(host):
    changed = labtest.run_playbook("converge.yml", {"lab_api_tags": ["via-api", "second"]})
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert labtest.recap(changed.stdout)[HOST]["changed"] == 1
    runner_id = runner_entries(host)["lab-api"]["id"]
    on_server = [runner for runner in labtest.gitlab().runners() if runner["id"] == runner_id]
    assert sorted(on_server[0]["tag_list"]) == ["second", "via-api"]

    again = labtest.run_playbook("converge.yml", {"lab_api_tags": ["via-api", "second"]})
    assert labtest.recap(again.stdout)[HOST]["changed"] == 0

    restored = labtest.run_playbook("converge.yml")
    assert restored.returncode == 0, restored.stdout[-3000:]


def test_an_unaccepted_key_fails_naming_its_fingerprint(host):
    keyring = host.file("/etc/apt/keyrings/gitlab-runner.asc").sha256sum
    refused = labtest.run_playbook("converge.yml", {"gitlab_runner_repository_key_fingerprints": ["0" * 40]})
    assert refused.returncode != 0
    # The message may be on stderr ([ERROR]) or folded by the YAML callback
    # (which escapes some spaces with a backslash).
    output = (refused.stdout + refused.stderr).replace("\\", " ")
    assert "none of which is accepted" in " ".join(output.split())
    assert host.file("/etc/apt/keyrings/gitlab-runner.asc").sha256sum == keyring
