# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verifiers' reader of the lab proxy's access log (format `behindproxy` in squid.conf)."""

from __future__ import annotations

import pytest

from conftest import LAB, load_lab_module

proxylog = load_lab_module("lab_proxylog", LAB / "proxylog.py")

NTLM_LINE = "1763850000.123 172.18.0.5 GET http://files.lab.test/hello.txt 200 LAB%5Crunner 12 345 TCP_MISS/HIER_DIRECT\n"
CHALLENGE_LINE = "1763850000.100 172.18.0.5 GET http://files.lab.test/hello.txt 407 - 0 3990 TCP_DENIED/HIER_NONE\n"
CONNECT_LINE = "1763850001.000 172.18.0.5 CONNECT hub.lab.test:443 200 proxyuser 80 5012 TCP_TUNNEL/HIER_DIRECT\n"


def test_a_line_becomes_an_entry_with_decoded_user():
    entry = proxylog.parse_line(NTLM_LINE)
    assert (entry.time, entry.client, entry.method, entry.url) == (
        1763850000.123, "172.18.0.5", "GET", "http://files.lab.test/hello.txt")
    assert (entry.status, entry.user, entry.elapsed_ms, entry.bytes, entry.result) == (
        200, "LAB\\runner", 12, 345, "TCP_MISS/HIER_DIRECT")


def test_a_request_without_accepted_credentials_has_no_user():
    assert proxylog.parse_line(CHALLENGE_LINE).user is None


def test_host_of_a_plain_request_and_of_a_connect():
    assert proxylog.parse_line(NTLM_LINE).host == "files.lab.test"
    assert proxylog.parse_line(CONNECT_LINE).host == "hub.lab.test"


def test_a_line_of_another_format_is_an_error_that_shows_it():
    with pytest.raises(proxylog.ProxyLogError, match="has 4 fields, expected 9") as error:
        proxylog.parse_line("not a log line")
    assert "not a log line" in str(error.value)


def test_a_malformed_number_is_an_error_that_shows_the_line():
    broken = NTLM_LINE.replace(" 200 ", " OK ")
    with pytest.raises(proxylog.ProxyLogError, match="malformed number"):
        proxylog.parse_line(broken)


def test_a_log_excerpt_skips_the_line_still_being_written():
    partial = CONNECT_LINE.rstrip("\n")[:30]
    entries = proxylog.parse_log(CHALLENGE_LINE + NTLM_LINE + partial)
    assert [entry.status for entry in entries] == [407, 200]
    assert proxylog.parse_log("") == []


def test_the_hosts_of_an_inventory_are_found_in_every_group():
    inventory = {"all": {"hosts": {"a": {}}, "children": {
        "runner_hosts": {"hosts": {"b": {"x": 1}}, "children": {"inner": {"hosts": {"c": None}}}},
        "empty": None}}, "top_level_group": {"hosts": {"d": {}}}}
    assert proxylog.inventory_hosts(inventory) == {"a", "b", "c", "d"}


def test_a_mark_taken_in_a_scenario_keeps_other_scenarios_requests_out(monkeypatch):
    other = NTLM_LINE.replace(NTLM_LINE.split()[1], "198.18.0.99", 1)
    monkeypatch.setattr(proxylog, "_docker_exec", lambda *_args: (CHALLENGE_LINE + NTLM_LINE + other).encode())
    own = NTLM_LINE.split()[1]
    scoped = proxylog.entries_since(proxylog.LogMark(offset=0, time=0.0, clients=frozenset({own})))
    assert [entry.client for entry in scoped] == [own, own]
    unscoped = proxylog.entries_since(proxylog.LogMark(offset=0, time=0.0))
    assert [entry.client for entry in unscoped] == [own, own, "198.18.0.99"]


def test_outside_a_scenario_a_mark_counts_every_client(monkeypatch):
    monkeypatch.delenv("MOLECULE_INVENTORY_FILE", raising=False)
    assert proxylog.scenario_clients() is None
