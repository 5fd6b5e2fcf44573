# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pure functions of _proxy_strings: argument checks, proxy_env and NO_PROXY merging.

The shell behaviour of docker_proxy_script is in test_proxy_strings_shell.py.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils._proxy_strings import (
    DOCKER_CLIENT_PROXY_KEYS,
    docker_proxy_script,
    merge_no_proxy,
    no_proxy_warning,
    proxy_env_list,
    proxy_environment,
)

# NO_PROXY entries: no commas (the separator), anything else goes.
no_proxy_entry = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=","),
                         max_size=12)
no_proxy_source = st.one_of(st.lists(no_proxy_entry, max_size=6),
                            st.lists(no_proxy_entry, max_size=6).map(",".join), st.none())


class TestDockerProxyScriptArguments:

    def test_literal_values_are_single_quoted_json(self):
        script = docker_proxy_script({"httpProxy": "http://proxy:3128"})
        assert script == ('(umask 077 && mkdir -p "$(dirname "$HOME/.docker/config.json")" && printf \'%s\\n\' '
                          '\'{"proxies":{"default":{"httpProxy":"http://proxy:3128"}}}\' > "$HOME/.docker/config.json")')

    def test_single_quote_in_a_value_leaves_and_reenters_the_quotes(self):
        assert "'\\''" in docker_proxy_script({"noProxy": "it's"})

    def test_null_values_are_left_out(self):
        script = docker_proxy_script({"httpProxy": "http://p:1", "httpsProxy": None})
        assert "httpsProxy" not in script

    def test_path_is_used_inside_double_quotes(self):
        script = docker_proxy_script({"httpProxy": "x"}, path="$CI_PROJECT_DIR/my dir/config.json")
        assert script.endswith('> "$CI_PROJECT_DIR/my dir/config.json")')

    @pytest.mark.parametrize("from_env", [False, True])
    def test_unknown_client_key_is_named(self, from_env):
        with pytest.raises(ValueError, match=r"unknown Docker client proxy key 'http_proxy': expected one of "
                                             r"httpProxy, httpsProxy, noProxy, ftpProxy, allProxy"):
            docker_proxy_script({"http_proxy": "x"}, from_env=from_env)

    def test_literal_value_must_be_a_string(self):
        with pytest.raises(ValueError, match=r"proxies.httpProxy must be a string, got int 3128"):
            docker_proxy_script({"httpProxy": 3128})

    def test_proxies_must_be_a_mapping(self):
        with pytest.raises(ValueError, match="proxies must be a mapping .* got list"):
            docker_proxy_script(["httpProxy"])

    def test_literal_mode_needs_a_value(self):
        with pytest.raises(ValueError, match="proxies is empty"):
            docker_proxy_script({})

    @pytest.mark.parametrize("name", ["HTTP-PROXY", "1PROXY", "$HTTP_PROXY", "HTTP_PROXY}", ""])
    def test_from_env_names_must_be_variable_names(self, name):
        with pytest.raises(ValueError, match="proxies.httpsProxy must name an environment variable") as error:
            docker_proxy_script({"httpsProxy": name}, from_env=True)
        assert str(error.value).endswith("got %r" % name)

    def test_from_env_with_every_key_null_is_refused(self):
        with pytest.raises(ValueError, match="proxies maps every key to null"):
            docker_proxy_script({"httpProxy": None}, from_env=True)

    def test_from_env_reads_each_of_the_five_keys(self):
        script = docker_proxy_script({key: "V%d" % index for index, key in enumerate(DOCKER_CLIENT_PROXY_KEYS)},
                                     from_env=True)
        assert 'set -- "$HOME/.docker/config.json" "${V0-}" "${V1-}" "${V2-}" "${V3-}" "${V4-}";' in script
        assert script.count("json_string \"$") == 5 and 'json_string "$6"' in script

    @pytest.mark.parametrize("proxies", [None, {}])
    def test_from_env_defaults_to_the_standard_variables(self, proxies):
        script = docker_proxy_script(proxies, from_env=True)
        assert '"${HTTP_PROXY-}" "${HTTPS_PROXY-}" "${NO_PROXY-}"' in script
        assert '"httpProxy":' in script and '"httpsProxy":' in script and '"noProxy":' in script

    @pytest.mark.parametrize("path", ['a"b', "a\\b", "a`b`", "a\nb", "", "   ", None])
    def test_path_that_cannot_sit_in_double_quotes_is_refused(self, path):
        with pytest.raises(ValueError, match="path"):
            docker_proxy_script({"httpProxy": "x"}, path=path)

    def test_output_is_one_line(self):
        assert "\n" not in docker_proxy_script({"noProxy": "a\nb"})
        assert "\n" not in docker_proxy_script(None, from_env=True)


class TestProxyEnv:

    def test_both_cases_in_fixed_order(self):
        assert proxy_env_list({"no_proxy": "localhost", "HTTPS_PROXY": "http://p:2", "http_proxy": "http://p:1"}) == [
            "HTTP_PROXY=http://p:1", "http_proxy=http://p:1",
            "HTTPS_PROXY=http://p:2", "https_proxy=http://p:2",
            "NO_PROXY=localhost", "no_proxy=localhost",
        ]

    def test_as_mapping(self):
        expected = {"HTTP_PROXY": "http://p:1", "http_proxy": "http://p:1"}
        assert proxy_environment({"HTTP_PROXY": "http://p:1"}) == expected

    def test_same_value_in_both_cases_is_fine(self):
        assert proxy_env_list({"HTTP_PROXY": "http://p:1", "http_proxy": "http://p:1"}) == [
            "HTTP_PROXY=http://p:1", "http_proxy=http://p:1"]

    def test_different_values_in_both_cases_is_an_error(self):
        with pytest.raises(ValueError, match="HTTP_PROXY and http_proxy are both given, with different values"):
            proxy_env_list({"HTTP_PROXY": "http://a:1", "http_proxy": "http://b:1"})

    def test_null_is_left_out_and_empty_string_kept(self):
        assert proxy_env_list({"http_proxy": None, "no_proxy": ""}) == ["NO_PROXY=", "no_proxy="]

    def test_no_proxy_list_is_merged(self):
        assert proxy_environment({"no_proxy": ["a", "A", " b ", "c,a"]})["NO_PROXY"] == "a,b,c"

    def test_unknown_name_is_named(self):
        with pytest.raises(ValueError, match="unknown proxy variable 'ftp_proxy'"):
            proxy_env_list({"ftp_proxy": "x"})

    def test_value_must_be_a_string(self):
        with pytest.raises(ValueError, match="https_proxy must be a string, got int"):
            proxy_env_list({"https_proxy": 3128})

    def test_input_must_be_a_mapping(self):
        with pytest.raises(ValueError, match="proxies must be a mapping .* got str"):
            proxy_env_list("http://p:1")

    @settings(max_examples=150, deadline=None)
    @given(values=st.dictionaries(st.sampled_from(["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                                   "no_proxy", "NO_PROXY"]),
                                  st.sampled_from(["", "http://proxy:3128", "x"]), max_size=6))
    def test_both_cases_always_equal(self, values):
        try:
            environment = proxy_environment(values)
        except ValueError:
            lowered = {}
            for key, value in values.items():
                lowered.setdefault(key.lower(), set()).add(value)
            assert any(len(seen) > 1 for seen in lowered.values())
            return
        for name in ("http_proxy", "https_proxy", "no_proxy"):
            assert environment.get(name) == environment.get(name.upper())
            given_values = {value for key, value in values.items() if key.lower() == name}
            assert given_values == ({environment[name]} if name in environment else set())


class TestNoProxy:

    def test_merges_strips_and_deduplicates_keeping_the_first_spelling(self):
        value, warnings = merge_no_proxy("localhost, Example.COM,,", ["example.com", "gitlab.local "], "LOCALHOST")
        assert value == "localhost,Example.COM,gitlab.local"
        assert warnings == []

    def test_none_and_empty_give_empty(self):
        assert merge_no_proxy(None) == ("", [])
        assert merge_no_proxy([], "", " , ") == ("", [])

    def test_list_items_may_hold_commas(self):
        assert merge_no_proxy(["a,b", "c"])[0] == "a,b,c"

    @pytest.mark.parametrize("entry, words", [
        ("10.0.0.0/8", "CIDR range"),
        ("fd00::/8", "CIDR range"),
        ("*.example.com", "write 'example.com'"),
        (".example.com", "not for 'example.com' itself"),
        ("*", "wget ignores it"),
        ("docker:2375", "has a port"),
        ("[::1]:8080", "has a port"),
    ])
    def test_warns_about_entries_some_tools_ignore(self, entry, words):
        value, warnings = merge_no_proxy(["localhost", entry])
        assert value == "localhost," + entry
        assert len(warnings) == 1
        assert repr(entry) in warnings[0] and words in warnings[0]

    @pytest.mark.parametrize("entry", ["example.com", "localhost", "127.0.0.1", "::1", "fd00::1", "docker",
                                       "a/b", "host:port"])
    def test_portable_entries_give_no_warning(self, entry):
        assert no_proxy_warning(entry) is None

    def test_normalize_rewrites_wildcards_and_leading_dots(self):
        value, warnings = merge_no_proxy(["*.example.com", ".Example.com", ".corp.local", "10.0.0.0/8"],
                                         normalize=True)
        assert value == "example.com,corp.local,10.0.0.0/8"
        assert len(warnings) == 1 and "10.0.0.0/8" in warnings[0]

    def test_normalize_keeps_lone_star_and_dot(self):
        assert merge_no_proxy("*,.", normalize=True)[0] == "*,."

    @pytest.mark.parametrize("arguments, message", [
        ((42,), "no_proxy argument 1 must be a list or a comma-separated string, got int 42"),
        (("a", {"b": 1}), "no_proxy argument 2 must be a list or a comma-separated string, got dict"),
        ((["a", 7],), "no_proxy argument 1 holds int 7: entries must be strings"),
    ])
    def test_bad_arguments_are_named(self, arguments, message):
        with pytest.raises(ValueError, match=message):
            merge_no_proxy(*arguments)

    @settings(max_examples=150, deadline=None)
    @given(sources=st.lists(no_proxy_source, min_size=1, max_size=4), normalize=st.booleans())
    def test_merge_properties(self, sources, normalize):
        value, warnings = merge_no_proxy(*sources, normalize=normalize)
        entries = value.split(",") if value else []
        lowered = [entry.lower() for entry in entries]
        assert len(set(lowered)) == len(lowered)
        assert all(entry and entry == entry.strip() for entry in entries)
        assert merge_no_proxy(value, normalize=normalize)[0] == value
        assert merge_no_proxy(value, *sources, normalize=normalize)[0] == value
        assert len(warnings) == sum(no_proxy_warning(entry) is not None for entry in entries)
        if not normalize:
            for source in sources:
                items = source.split(",") if isinstance(source, str) else (source or [])
                for item in items:
                    if item.strip():
                        assert item.strip().lower() in lowered
