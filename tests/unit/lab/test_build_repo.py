# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""build-repo: the double's packages and a signed repository in the vendor's layout, rebuilt only on change."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import REPOSITORY, RUNNER_DOUBLE


def snapshot_checkout(target):
    """Copy build-repo's inputs, so that edits elsewhere in the tree during the run cannot change them."""
    shutil.copytree(RUNNER_DOUBLE, target / "tests" / "lab" / "runner_double",
                    ignore=shutil.ignore_patterns("__pycache__"))
    key_module = target / "plugins" / "module_utils" / "_runner_config_keys.py"
    key_module.parent.mkdir(parents=True)
    shutil.copy(REPOSITORY / "plugins" / "module_utils" / "_runner_config_keys.py", key_module)
    # The key module imports the masking module: the package carries both.
    shutil.copy(REPOSITORY / "plugins" / "module_utils" / "_masking.py", key_module.parent / "_masking.py")
    return target / "tests" / "lab" / "runner_double" / "build-repo", key_module


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    script, _key_module = snapshot_checkout(tmp_path_factory.mktemp("checkout"))
    out = tmp_path_factory.mktemp("repo")
    first = subprocess.run([str(script), str(out)], check=True, capture_output=True, text=True)
    return out, first.stdout, script


def test_layout_is_the_vendors(repository):
    out = repository[0]
    for relative in ("dists/bookworm/Release", "dists/bookworm/InRelease", "dists/bookworm/Release.gpg",
                     "dists/bookworm/main/binary-amd64/Packages", "dists/bookworm/main/binary-amd64/Packages.gz",
                     "gpg.key"):
        assert (out / relative).is_file(), relative
    debs = sorted(path.name for path in (out / "pool" / "main" / "g" / "gitlab-runner").iterdir())
    assert sorted(name.split("_")[0] for name in debs) == ["gitlab-runner", "gitlab-runner-helper-images"]
    assert all(name.endswith("_all.deb") for name in debs)
    release = (out / "dists" / "bookworm" / "Release").read_text()
    assert "Codename: bookworm" in release and "Components: main" in release
    packages = (out / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages").read_text()
    assert "Package: gitlab-runner\n" in packages and "Package: gitlab-runner-helper-images\n" in packages
    assert (out / "gpg.key").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")


def test_release_signatures_verify_with_the_published_key(repository, tmp_path):
    out = repository[0]
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(subprocess.run(["gpg", "--dearmor"], input=(out / "gpg.key").read_bytes(),
                                       capture_output=True, check=True).stdout)
    release = out / "dists" / "bookworm"
    subprocess.run(["gpgv", "--keyring", str(keyring), str(release / "InRelease")], check=True, capture_output=True)
    subprocess.run(["gpgv", "--keyring", str(keyring), str(release / "Release.gpg"), str(release / "Release")],
                   check=True, capture_output=True)
    (release / "Release").write_text((release / "Release").read_text() + "tampered\n")
    try:
        tampered = subprocess.run(["gpgv", "--keyring", str(keyring), str(release / "Release.gpg"),
                                   str(release / "Release")], capture_output=True, check=False)
        assert tampered.returncode != 0
    finally:
        (release / "Release").write_text((release / "Release").read_text().replace("tampered\n", ""))


def test_package_holds_the_double_the_unit_and_the_key_module(repository):
    out = repository[0]
    deb = next((out / "pool" / "main" / "g" / "gitlab-runner").glob("gitlab-runner_*_all.deb"))
    contents = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    assert "./lib/systemd/system/gitlab-runner.service" in contents
    assert "./usr/bin/gitlab-runner -> ../lib/gitlab-runner-double/gitlab-runner" in contents
    packaged = "./usr/lib/gitlab-runner-double/ansible_collections/behindproxy/gitlab_runner/plugins/module_utils/"
    assert packaged + "_runner_config_keys.py" in contents and packaged + "_masking.py" in contents
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends", "Description"], capture_output=True, text=True,
                            check=True).stdout
    assert "python3" in fields and "git" in fields and "ca-certificates" in fields
    assert "TEST DOUBLE" in fields
    unit = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"ExecStart=/usr/bin/gitlab-runner run --config /etc/gitlab-runner/config.toml" in unit


def test_unchanged_inputs_are_not_rebuilt(repository):
    out = repository[0]
    before = (out / "dists" / "bookworm" / "InRelease").read_bytes()
    again = subprocess.run([str(repository[2]), str(out)], check=True, capture_output=True, text=True)
    assert again.stdout.strip() == "%s (up to date)" % out
    assert (out / "dists" / "bookworm" / "InRelease").read_bytes() == before


def test_a_changed_key_module_triggers_a_rebuild(tmp_path):
    script, key_module = snapshot_checkout(tmp_path / "checkout")
    out = tmp_path / "repo"
    subprocess.run([str(script), str(out)], check=True, capture_output=True)
    key_module.write_text(key_module.read_text() + "\n# changed\n")
    rebuilt = subprocess.run([str(script), str(out)], check=True, capture_output=True, text=True)
    assert rebuilt.stdout.strip() == str(out)
    deb = next((out / "pool" / "main" / "g" / "gitlab-runner").glob("gitlab-runner_*_all.deb"))
    packaged = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    assert b"# changed" in packaged


def test_missing_key_module_is_a_clear_error(tmp_path):
    script, key_module = snapshot_checkout(tmp_path / "checkout")
    key_module.unlink()
    failed = subprocess.run([str(script), str(tmp_path / "repo")],
                            capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "key module is missing" in failed.stderr


def keyring_of(key_file, tmp_path, name):
    keyring = tmp_path / name
    keyring.write_bytes(subprocess.run(["gpg", "--dearmor"], input=key_file.read_bytes(),
                                       capture_output=True, check=True).stdout)
    return keyring


def test_a_new_key_signs_the_same_repository_and_the_old_key_no_longer_verifies(tmp_path):
    script, _key_module = snapshot_checkout(tmp_path / "checkout")
    out = tmp_path / "repo"
    subprocess.run([str(script), str(out)], check=True, capture_output=True)
    release = out / "dists" / "bookworm"
    old_keyring = keyring_of(out / "gpg.key", tmp_path, "old.gpg")
    packages, old_key = (release / "Release").read_bytes(), (out / "gpg.key").read_bytes()

    signed = subprocess.run([str(script), "--new-key", str(out)], check=True, capture_output=True, text=True)
    assert signed.stdout.strip() == "%s (signed with a new key)" % out
    assert (out / "gpg.key").read_bytes() != old_key
    assert (release / "Release").read_bytes() == packages
    new_keyring = keyring_of(out / "gpg.key", tmp_path, "new.gpg")
    subprocess.run(["gpgv", "--keyring", str(new_keyring), str(release / "InRelease")], check=True, capture_output=True)
    assert subprocess.run(["gpgv", "--keyring", str(old_keyring), str(release / "InRelease")],
                          capture_output=True, check=False).returncode != 0
    # No private key material is left beside what is published.
    assert not [path for path in out.rglob("*") if path.is_file() and b"PRIVATE KEY" in path.read_bytes()]


def test_a_new_key_needs_a_repository(tmp_path):
    script, _key_module = snapshot_checkout(tmp_path / "checkout")
    failed = subprocess.run([str(script), "--new-key", str(tmp_path / "empty")], capture_output=True, text=True,
                            check=False)
    assert failed.returncode == 1 and "no repository to sign again" in failed.stderr
