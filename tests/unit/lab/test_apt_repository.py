# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apt-repository: given packages in a signed repository laid out as the vendor's, rebuilt only on change.

The packages here are two small ones made by the test: what is checked is the
repository (layout, signatures, the new-key rotation), not the runner, whose
build (tests/lab/runner/build-runner) the lab scenarios install.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import LAB

SCRIPT = LAB / "bin" / "apt-repository"


def make_package(directory, name, version, architecture="all"):
    root = directory / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr" / "share" / name).mkdir(parents=True)
    (root / "usr" / "share" / name / "README").write_text("%s %s for the apt-repository test\n" % (name, version))
    (root / "DEBIAN" / "control").write_text(
        "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: behindproxy test <test@lab.test>\n"
        "Description: test package\n a package made by the test\n" % (name, version, architecture))
    deb = directory / ("%s_%s_%s.deb" % (name, version, architecture))
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True)
    shutil.rmtree(root)
    return deb


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    directory = tmp_path_factory.mktemp("packages")
    return [make_package(directory, "gitlab-runner", "19.4.0-1", "amd64"),
            make_package(directory, "gitlab-runner-helper-images", "19.4.0-1")]


def build(out, *debs, check=True):
    return subprocess.run([str(SCRIPT), str(out), *map(str, debs)], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def repository(tmp_path_factory, packages):
    out = tmp_path_factory.mktemp("repo")
    first = build(out, *packages)
    return out, first.stdout


def keyring_of(key_file, tmp_path, name):
    keyring = tmp_path / name
    keyring.write_bytes(subprocess.run(["gpg", "--dearmor"], input=key_file.read_bytes(),
                                       capture_output=True, check=True).stdout)
    return keyring


def test_layout_is_the_vendors(repository):
    out, stdout = repository
    assert stdout.strip() == str(out)
    for relative in ("dists/bookworm/Release", "dists/bookworm/InRelease", "dists/bookworm/Release.gpg",
                     "dists/bookworm/main/binary-amd64/Packages", "dists/bookworm/main/binary-amd64/Packages.gz",
                     "gpg.key"):
        assert (out / relative).is_file(), relative
    debs = sorted(path.name for path in (out / "pool" / "main" / "g" / "gitlab-runner").iterdir())
    assert debs == ["gitlab-runner-helper-images_19.4.0-1_all.deb", "gitlab-runner_19.4.0-1_amd64.deb"]
    release = (out / "dists" / "bookworm" / "Release").read_text()
    assert "Codename: bookworm" in release and "Components: main" in release
    packages = (out / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages").read_text()
    assert "Package: gitlab-runner\n" in packages and "Package: gitlab-runner-helper-images\n" in packages
    assert "Version: 19.4.0-1\n" in packages
    assert (out / "gpg.key").read_text().startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")


def test_release_signatures_verify_with_the_published_key_and_fail_when_tampered(repository, tmp_path):
    out = repository[0]
    keyring = keyring_of(out / "gpg.key", tmp_path, "keyring.gpg")
    release = out / "dists" / "bookworm"
    subprocess.run(["gpgv", "--keyring", str(keyring), str(release / "InRelease")], check=True, capture_output=True)
    subprocess.run(["gpgv", "--keyring", str(keyring), str(release / "Release.gpg"), str(release / "Release")],
                   check=True, capture_output=True)
    tampered = tmp_path / "Release"
    tampered.write_text((release / "Release").read_text() + "tampered\n")
    assert subprocess.run(["gpgv", "--keyring", str(keyring), str(release / "Release.gpg"), str(tampered)],
                          capture_output=True, check=False).returncode != 0


def test_unchanged_packages_are_not_signed_again(repository, packages):
    out = repository[0]
    before = (out / "dists" / "bookworm" / "InRelease").read_bytes()
    again = build(out, *packages)
    assert again.stdout.strip() == "%s (up to date)" % out
    assert (out / "dists" / "bookworm" / "InRelease").read_bytes() == before


def test_a_changed_package_is_served(tmp_path, packages):
    out = tmp_path / "repo"
    build(out, *packages)
    newer = make_package(tmp_path, "gitlab-runner", "19.4.1-1", "amd64")
    rebuilt = build(out, newer, packages[1])
    assert rebuilt.stdout.strip() == str(out)
    index = (out / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages").read_text()
    assert "Version: 19.4.1-1\n" in index and "Version: 19.4.0-1\nArchitecture: amd64" not in index
    assert not (out / "pool" / "main" / "g" / "gitlab-runner" / "gitlab-runner_19.4.0-1_amd64.deb").exists()


def test_a_file_that_is_no_package_is_refused(tmp_path):
    not_a_package = tmp_path / "notes.deb"
    not_a_package.write_text("not a Debian package\n")
    failed = build(tmp_path / "repo", not_a_package, check=False)
    assert failed.returncode == 1
    assert "not a Debian package: %s" % not_a_package in failed.stderr
    assert not (tmp_path / "repo" / "dists").exists()


def test_a_new_key_signs_the_same_repository_and_the_old_key_no_longer_verifies(tmp_path, packages):
    out = tmp_path / "repo"
    build(out, *packages)
    release = out / "dists" / "bookworm"
    old_keyring = keyring_of(out / "gpg.key", tmp_path, "old.gpg")
    index, old_key = (release / "Release").read_bytes(), (out / "gpg.key").read_bytes()

    signed = subprocess.run([str(SCRIPT), "--new-key", str(out)], check=True, capture_output=True, text=True)
    assert signed.stdout.strip() == "%s (signed with a new key)" % out
    assert (out / "gpg.key").read_bytes() != old_key
    assert (release / "Release").read_bytes() == index
    new_keyring = keyring_of(out / "gpg.key", tmp_path, "new.gpg")
    subprocess.run(["gpgv", "--keyring", str(new_keyring), str(release / "InRelease")], check=True, capture_output=True)
    assert subprocess.run(["gpgv", "--keyring", str(old_keyring), str(release / "InRelease")],
                          capture_output=True, check=False).returncode != 0
    # No private key material is left beside what is published.
    assert not [path for path in out.rglob("*") if path.is_file() and b"PRIVATE KEY" in path.read_bytes()]


def test_a_new_key_needs_a_repository(tmp_path):
    failed = subprocess.run([str(SCRIPT), "--new-key", str(tmp_path / "empty")], capture_output=True, text=True,
                            check=False)
    assert failed.returncode == 1 and "no repository to sign again" in failed.stderr
