# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""config.toml for the runner double: strict reading, checks, unknown keys, whole-file rewrite."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import importlib.util
import os
import pathlib
import re
import secrets
import string
import sys
import tempfile
import tomllib

import toml_writer

KEY_MODULE_NAME = "_runner_config_keys.py"
PACKAGED_MODULE_UTILS = pathlib.Path("ansible_collections/behindproxy/gitlab_runner/plugins/module_utils")
ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=datetime.timezone.utc)
STRING_LIST = "list of strings"

# Keys the double acts on, with the type it needs. Everything else is kept
# as read and only reported when the collection's key list does not know it.
GLOBAL_TYPES = {"concurrent": int, "check_interval": int, "log_level": str, "log_format": str,
                "shutdown_timeout": int, "runners": list}
RUNNER_TYPES = {"name": str, "url": str, "id": int, "token": str, "executor": str, "limit": int,
                "output_limit": int, "request_concurrency": int, "environment": STRING_LIST,
                "pre_get_sources_script": str, "pre_build_script": str, "post_build_script": str,
                "tls-ca-file": str, "token_obtained_at": datetime.datetime,
                "token_expires_at": datetime.datetime, "docker": dict}
DOCKER_TYPES = {"image": str, "privileged": bool, "services_privileged": bool, "volumes": STRING_LIST,
                "extra_hosts": STRING_LIST, "network_mode": str, "dns": STRING_LIST, "services": list,
                "host": str, "tls_verify": bool, "tls_cert_path": str, "wait_for_services_timeout": int}
SERVICE_TYPES = {"name": str, "alias": str, "command": STRING_LIST, "entrypoint": STRING_LIST,
                 "environment": STRING_LIST}


class ConfigError(Exception):
    """config.toml cannot be used; the message names the file and the problem."""


def type_name(expected):
    if expected is STRING_LIST:
        return STRING_LIST
    return {int: "integer", str: "string", bool: "boolean", list: "array", dict: "table",
            datetime.datetime: "datetime"}[expected]


def has_type(value, expected):
    if expected is STRING_LIST:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_types(table, types, path):
    """Type errors of one table, as 'path.key: expected X, got Y' strings."""
    errors = []
    for key, expected in types.items():
        if key in table and not has_type(table[key], expected):
            errors.append("%s%s: expected %s, got %r" % (path, key, type_name(expected), table[key]))
    return errors


def validate(document):
    """Check the keys the double uses; return the list of problems (empty when usable)."""
    errors = check_types(document, GLOBAL_TYPES, "")
    runners = document.get("runners", [])
    if not isinstance(runners, list):
        return errors
    for index, runner in enumerate(runners):
        path = "runners[%d]." % index
        if not isinstance(runner, dict):
            errors.append("runners[%d]: expected a table ([[runners]]), got %r" % (index, runner))
            continue
        errors += check_types(runner, RUNNER_TYPES, path)
        for variable in runner.get("environment", []) if has_type(runner.get("environment", []), STRING_LIST) else []:
            if "=" not in variable:
                errors.append("%senvironment: %r is not NAME=value" % (path, variable))
        docker = runner.get("docker", {})
        if isinstance(docker, dict):
            errors += check_types(docker, DOCKER_TYPES, path + "docker.")
            services = docker.get("services", [])
            for number, service in enumerate(services if isinstance(services, list) else []):
                service_path = "%sdocker.services[%d]" % (path, number)
                if not isinstance(service, dict) or not isinstance(service.get("name"), str):
                    errors.append("%s: expected a table with a string 'name', got %r" % (service_path, service))
                else:
                    errors += check_types(service, SERVICE_TYPES, service_path + ".")
    return errors


def parse(text, path="config.toml"):
    """The document in `text`, strictly: TOML errors and type errors raise ConfigError."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("%s: invalid TOML: %s" % (path, error)) from None
    errors = validate(document)
    if errors:
        raise ConfigError("%s: %s" % (path, "; ".join(errors)))
    return document


def load(path):
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ConfigError("%s: cannot read: %s" % (path, error.strerror)) from None
    try:
        # toml-test counts a leading byte order mark as valid; tomllib alone would refuse it.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError("%s: not UTF-8 (byte %d)" % (path, error.start)) from None
    return parse(text, path)


def empty_document():
    """What the real runner writes into a new config.toml before the first [[runners]]."""
    return {"concurrent": 1, "check_interval": 0, "shutdown_timeout": 0,
            "session_server": {"session_timeout": 1800}}


def save(path, document):
    """Rewrite the whole file (as the real runner does): new files 0600, existing ones keep mode and owner."""
    text = toml_writer.dumps(document)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    descriptor, temporary = tempfile.mkstemp(prefix=".config.toml.", dir=directory)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if current is None:
            os.chmod(temporary, 0o600)
        else:
            os.chmod(temporary, current.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(temporary, current.st_uid, current.st_gid)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def system_id(config_path):
    """The machine's runner system id, in .runner_system_id next to config.toml, as the runner keeps it.

    The runner (commands/internal/configfile/system_id_state.go) accepts only
    ``[sr]_`` and 12 letters or digits (after trimming white space); anything
    else counts as missing. A missing id is ``s_`` and the first 12 hex digits
    of HMAC-SHA256 keyed with the machine id over "gitlab-runner" (``r_`` and
    random characters without a machine id), written without a newline, 0600.
    """
    id_path = os.path.join(os.path.dirname(os.path.abspath(config_path)), ".runner_system_id")
    try:
        with open(id_path, encoding="utf-8") as handle:
            existing = handle.read().strip()
        if re.fullmatch(r"[sr]_[0-9a-zA-Z]{12}", existing):
            return existing
    except FileNotFoundError:
        pass
    machine_id = ""
    for candidate in ("/var/lib/dbus/machine-id", "/etc/machine-id"):
        try:
            with open(candidate, encoding="utf-8") as handle:
                machine_id = handle.read().strip()
        except OSError:
            continue
        if machine_id:
            break
    if machine_id:
        value = "s_" + hmac.new(machine_id.encode(), b"gitlab-runner", hashlib.sha256).hexdigest()[:12]
    else:
        value = "r_" + "".join(secrets.choice(string.ascii_letters + string.digits) for position in range(12))
    os.makedirs(os.path.dirname(id_path), mode=0o700, exist_ok=True)
    with open(id_path, "w", encoding="utf-8") as handle:
        handle.write(value)
    os.chmod(id_path, 0o600)
    return value


def find_key_module(start=None):
    """The collection's key module: $GITLAB_RUNNER_DOUBLE_KEYS, beside this file (packaged), or in the checkout."""
    here = pathlib.Path(start or __file__).resolve().parent
    candidates = [os.environ.get("GITLAB_RUNNER_DOUBLE_KEYS"), here / KEY_MODULE_NAME, here / PACKAGED_MODULE_UTILS / KEY_MODULE_NAME,
                  here.parents[2] / "plugins" / "module_utils" / KEY_MODULE_NAME if len(here.parents) > 2 else None]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate):
            return str(candidate)
    return None


def load_unknown_keys_function(module_path):
    """`unknown_keys(document) -> list[str]` from the key module at `module_path`."""
    # The key module imports the collection's masking module by its full
    # name: packaged, both live under an ansible_collections tree beside
    # this file (build-repo), in the checkout pytest puts build/collections
    # on the path.
    packaged_root = pathlib.Path(__file__).resolve().parent
    if (packaged_root / PACKAGED_MODULE_UTILS).is_dir() and str(packaged_root) not in sys.path:
        sys.path.insert(0, str(packaged_root))
    spec = importlib.util.spec_from_file_location("runner_double_config_keys", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.unknown_keys


def unknown_key_warnings(document, unknown_keys):
    """One warning per key the runner would silently ignore."""
    return ["config.toml: unknown key %s (the runner ignores it silently)" % key for key in unknown_keys(document)]


def unknown_key_report(document):
    """Warnings for unknown keys, or one warning that the report is unavailable (and why)."""
    module_path = find_key_module()
    if module_path is None:
        return ["unknown-key report unavailable: %s not found" % KEY_MODULE_NAME]
    try:
        unknown_keys = load_unknown_keys_function(module_path)
    except Exception as error:  # the report is advisory: a broken key module must not stop the runner
        return ["unknown-key report unavailable: cannot load %s: %s" % (module_path, error)]
    return unknown_key_warnings(document, unknown_keys)


def token_times(lifetime_end, now):
    """token_obtained_at / token_expires_at as the runner writes them (zero time: no expiry)."""
    return {"token_obtained_at": now.replace(microsecond=0),
            "token_expires_at": lifetime_end.replace(microsecond=0) if lifetime_end else ZERO_TIME}


def rotation_due(obtained_at, expires_at, now):
    """True once 75 % of a token's lifetime has passed (never for tokens without expiry)."""
    if not isinstance(expires_at, datetime.datetime) or expires_at <= ZERO_TIME:
        return False
    if not isinstance(obtained_at, datetime.datetime) or obtained_at <= ZERO_TIME:
        return True
    return now >= obtained_at + (expires_at - obtained_at) * 0.75
