# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake GitLab's runners API for access tokens: GET, PUT and DELETE /runners/:id, scopes, 410."""

from __future__ import annotations

from conftest import fakegitlab_server
from test_fakegitlab import call, register_legacy

ADMIN = {"PRIVATE-TOKEN": fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN}


def create_runner(fake, **fields):
    body = {"runner_type": "instance_type", "description": "docker-1"}
    body.update(fields)
    status, _headers, payload = call(fake, "POST", "/api/v4/user/runners", body, ADMIN)
    assert status == 201, payload
    return payload


def test_get_shows_the_runner_in_gitlabs_shape(fake_gitlab):
    created = create_runner(fake_gitlab, tag_list=["docker", "proxy"], locked=True, paused=True, run_untagged=False,
                            access_level="ref_protected", maximum_timeout=3600, maintenance_note="lab")
    status, _headers, runner = call(fake_gitlab, "GET", "/api/v4/runners/%d" % created["id"], headers=ADMIN)
    assert status == 200
    assert runner["id"] == created["id"]
    assert runner["description"] == "docker-1"
    assert runner["tag_list"] == ["docker", "proxy"]
    assert (runner["locked"], runner["paused"], runner["active"], runner["run_untagged"]) == (True, True, False, False)
    assert runner["access_level"] == "ref_protected"
    assert runner["maximum_timeout"] == 3600
    assert runner["maintenance_note"] == "lab"
    assert runner["runner_type"] == "instance_type" and runner["is_shared"] is True
    assert runner["status"] == "never_contacted"
    assert "token" not in runner


def test_get_of_a_legacy_runner_has_its_registration_fields(fake_gitlab):
    credentials = register_legacy(fake_gitlab, tag_list="a, b", maintenance_note="old")
    status, _headers, runner = call(fake_gitlab, "GET", "/api/v4/runners/%d" % credentials["id"], headers=ADMIN)
    assert status == 200
    assert runner["tag_list"] == ["a", "b"] and runner["maintenance_note"] == "old"


def test_put_changes_only_the_given_fields(fake_gitlab):
    created = create_runner(fake_gitlab, tag_list=["docker"])
    path = "/api/v4/runners/%d" % created["id"]
    status, _headers, runner = call(fake_gitlab, "PUT", path, {"tag_list": ["docker", "dind"], "paused": True}, ADMIN)
    assert status == 200
    assert runner["tag_list"] == ["docker", "dind"] and runner["paused"] is True
    assert runner["description"] == "docker-1"
    status, _headers, runner = call(fake_gitlab, "PUT", path, {"tag_list": "x, y", "active": True}, ADMIN)
    assert status == 200 and runner["tag_list"] == ["x", "y"] and runner["paused"] is False
    assert call(fake_gitlab, "GET", path, headers=ADMIN)[2]["tag_list"] == ["x", "y"]


def test_put_refuses_bad_values_and_changes_nothing(fake_gitlab):
    created = create_runner(fake_gitlab)
    path = "/api/v4/runners/%d" % created["id"]
    for body in ({"access_level": "everyone"}, {"locked": "yes"}, {"maximum_timeout": 60}, {"tags": ["a"]}, {},
                 {"description": "changed", "run_untagged": 1}):
        status, _headers, payload = call(fake_gitlab, "PUT", path, body, ADMIN)
        assert status == 400, body
        assert payload["message"].startswith("400")
    assert call(fake_gitlab, "GET", path, headers=ADMIN)[2]["description"] == "docker-1"


def test_scopes_decide_who_reads_changes_and_deletes(fake_gitlab):
    created = create_runner(fake_gitlab)
    path = "/api/v4/runners/%d" % created["id"]
    assert call(fake_gitlab, "GET", path)[0] == 401
    assert call(fake_gitlab, "GET", path, headers={"PRIVATE-TOKEN": "glpat-unknown"})[0] == 401
    fake_gitlab.control.add_personal_access_token("glpat-create-only", scopes=["create_runner"])
    fake_gitlab.control.add_personal_access_token("glpat-reader", scopes=["read_api"])
    fake_gitlab.control.add_personal_access_token("glpat-manager", scopes=["manage_runner"])
    creator = {"PRIVATE-TOKEN": "glpat-create-only"}
    reader = {"PRIVATE-TOKEN": "glpat-reader"}
    manager = {"PRIVATE-TOKEN": "glpat-manager"}
    status, _headers, payload = call(fake_gitlab, "GET", path, headers=creator)
    assert status == 403 and "insufficient_scope" in payload["message"]
    assert call(fake_gitlab, "GET", path, headers=reader)[0] == 200
    assert call(fake_gitlab, "PUT", path, {"locked": True}, reader)[0] == 403
    assert call(fake_gitlab, "DELETE", path, headers=reader)[0] == 403
    assert call(fake_gitlab, "PUT", path, {"locked": True}, manager)[0] == 200
    assert call(fake_gitlab, "DELETE", path, headers=manager)[0] == 204


def test_delete_removes_the_runner_and_its_token(fake_gitlab):
    created = create_runner(fake_gitlab)
    path = "/api/v4/runners/%d" % created["id"]
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": created["token"], "system_id": "s_host"})[0] == 200
    assert call(fake_gitlab, "DELETE", path, headers=ADMIN)[0] == 204
    assert call(fake_gitlab, "POST", "/api/v4/runners/verify", {"token": created["token"], "system_id": "s_host"})[0] == 403
    assert call(fake_gitlab, "GET", path, headers=ADMIN)[0] == 404
    assert call(fake_gitlab, "DELETE", path, headers=ADMIN)[0] == 404
    assert fake_gitlab.control.runners() == []


def test_unknown_runner_is_404_and_other_methods_405(fake_gitlab):
    assert call(fake_gitlab, "GET", "/api/v4/runners/999", headers=ADMIN)[0] == 404
    assert call(fake_gitlab, "PUT", "/api/v4/runners/999", {"locked": True}, ADMIN)[0] == 404
    assert call(fake_gitlab, "POST", "/api/v4/runners/1", {}, ADMIN)[0] == 405


def test_user_runners_needs_create_runner_scope(fake_gitlab):
    fake_gitlab.control.add_personal_access_token("glpat-manager", scopes=["manage_runner", "read_api"])
    status, _headers, payload = call(fake_gitlab, "POST", "/api/v4/user/runners", {"runner_type": "instance_type"},
                                     {"PRIVATE-TOKEN": "glpat-manager"})
    assert status == 403 and "create_runner" in payload["message"]


def test_project_and_group_runners_keep_their_owner(fake_gitlab):
    created = create_runner(fake_gitlab, runner_type="project_type", project_id=7)
    runner = fake_gitlab.control.runners()[0]
    assert (runner["id"], runner["runner_type"], runner["project_id"]) == (created["id"], "project_type", 7)
    status, _headers, details = call(fake_gitlab, "GET", "/api/v4/runners/%d" % created["id"], headers=ADMIN)
    assert details["is_shared"] is False


def test_registration_with_registration_tokens_switched_off_is_410(fake_gitlab):
    fake_gitlab.control.set_registration_enabled(False)
    status, _headers, payload = call(fake_gitlab, "POST", "/api/v4/runners",
                                     {"token": fakegitlab_server.LAB_REGISTRATION_TOKEN, "description": "r"})
    assert status == 410 and "disabled" in payload["message"]
    assert fake_gitlab.control.state()["registration_enabled"] is False
    # Access tokens still create runners.
    assert create_runner(fake_gitlab)["token"].startswith("glrt-")


def test_access_tokens_are_redacted_in_the_request_log(fake_gitlab):
    created = create_runner(fake_gitlab)
    call(fake_gitlab, "GET", "/api/v4/runners/%d" % created["id"], headers=ADMIN)
    log = fake_gitlab.control.request_log()
    assert [entry["method"] for entry in log] == ["POST", "GET"]
    assert fakegitlab_server.LAB_PERSONAL_ACCESS_TOKEN not in repr(log)
