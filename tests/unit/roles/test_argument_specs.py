# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each role's meta/argument_specs.yml and defaults/main.yml describe the same variables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES_DIRECTORY = Path(__file__).resolve().parents[3] / "roles"
ROLES = sorted(path.name for path in ROLES_DIRECTORY.iterdir() if (path / "tasks" / "main.yml").is_file())


def load_yaml(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def test_the_collection_has_roles():
    assert ROLES, f"no roles found under {ROLES_DIRECTORY}"


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_name_the_same_variables(role):
    options = load_yaml(ROLES_DIRECTORY / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load_yaml(ROLES_DIRECTORY / role / "defaults" / "main.yml")
    assert sorted(options) == sorted(defaults)


@pytest.mark.parametrize("role", ROLES)
def test_specs_give_the_defaults_value(role):
    options = load_yaml(ROLES_DIRECTORY / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load_yaml(ROLES_DIRECTORY / role / "defaults" / "main.yml")
    mismatched = {name: (spec.get("default"), defaults[name]) for name, spec in options.items()
                  if name in defaults and spec.get("default") != defaults[name]}
    assert not mismatched, f"argument_specs default != defaults/main.yml value: {mismatched}"


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_carry_the_role_prefix(role):
    defaults = load_yaml(ROLES_DIRECTORY / role / "defaults" / "main.yml")
    assert [name for name in defaults if not name.startswith(f"{role}_")] == []


@pytest.mark.parametrize("role", ROLES)
def test_secret_options_are_no_log(role):
    options = load_yaml(ROLES_DIRECTORY / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    secret_words = ("password", "pass_", "token", "secret")
    leaky = [name for name, spec in options.items()
             if any(word in name for word in secret_words) and not spec.get("no_log")
             and spec.get("type") != "bool"]
    assert leaky == []
