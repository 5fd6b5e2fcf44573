# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's docker:dind and docker:cli images (tests/lab/images/lab-internet): how they are pushed
(push_docker.py, pure) and what their entrypoints do (run in the lab's base image, with stand-ins
for dockerd and docker, so that the certificates are real openssl output)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import LAB

IMAGE_RECIPE = LAB / "images" / "lab-internet"
ENTRYPOINTS = IMAGE_RECIPE / "docker-image"
sys.path.insert(0, str(IMAGE_RECIPE))

import push_docker  # noqa: E402  (the recipe folder is on sys.path only from here)

DPKG_STATUS = """Package: docker-doc
Status: deinstall ok config-files
Version: 20.10.24+dfsg1-1+deb12u1

Package: docker.io
Status: install ok installed
Priority: optional
Version: 20.10.24+dfsg1-1+deb12u1
Description: Linux container runtime
 multi-line description: Version: 1.2.3

Package: runc
Status: install ok installed
Version: 1.1.5+ds1-1+deb12u1
"""


def test_the_version_is_docker_ios_upstream_version():
    assert push_docker.docker_version(DPKG_STATUS) == "20.10.24"
    assert push_docker.docker_version("Package: docker.io\nStatus: install ok installed\nVersion: 5:24.0.7-1\n") \
        == "24.0.7"


@pytest.mark.parametrize("status, message", [
    ("Package: runc\nStatus: install ok installed\nVersion: 1.1.5\n", "docker.io is not installed"),
    ("Package: docker.io\nStatus: deinstall ok config-files\nVersion: 20.10.24\n", "docker.io is not installed"),
    ("Package: docker.io\nStatus: install ok installed\nVersion: unknown\n", "cannot read docker.io's version 'unknown'"),
])
def test_a_root_filesystem_without_a_readable_docker_io_is_refused(status, message):
    with pytest.raises(SystemExit, match=message):
        push_docker.docker_version(status)


def test_tags_are_named_like_dockers_own():
    assert push_docker.image_tags("20.10.24") == {
        "dind": ["dind", "20.10.24-dind", "20.10-dind"],
        "cli": ["cli", "latest", "20.10.24", "20.10", "20.10.24-cli", "20.10-cli"],
    }


def test_dind_and_cli_configurations_behave_like_dockers_images_and_say_they_are_the_labs():
    configs = push_docker.container_configs("20.10.24")
    dind, cli = configs["dind"], configs["cli"]
    assert (dind["Entrypoint"], dind["Cmd"]) == (["dockerd-entrypoint.sh"], [])
    assert dind["Volumes"] == {"/var/lib/docker": {}}
    assert set(dind["ExposedPorts"]) == {"2375/tcp", "2376/tcp"}
    assert (cli["Entrypoint"], cli["Cmd"]) == (["docker-entrypoint.sh"], ["sh"])
    for config in (dind, cli):
        assert "DOCKER_TLS_CERTDIR=/certs" in config["Env"]
        assert "not Docker's official image" in config["Labels"]["org.opencontainers.image.description"]


def test_the_layer_keeps_links_and_numeric_owners_with_names_relative_to_the_root(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    (rootfs / "usr" / "bin" / "dockerd").write_bytes(b"\x7fELF dockerd")
    os.link(rootfs / "usr" / "bin" / "dockerd", rootfs / "usr" / "bin" / "dockerd-hardlink")
    (rootfs / "bin").symlink_to("usr/bin")
    (rootfs / "certs").mkdir(mode=0o755)
    (rootfs / "certs").chmod(0o1777)
    with tarfile.open(fileobj=io.BytesIO(push_docker.layer_tar(str(rootfs)))) as layer:
        members = {member.name: member for member in layer.getmembers()}
    assert set(members) == {"bin", "certs", "usr", "usr/bin", "usr/bin/dockerd", "usr/bin/dockerd-hardlink"}
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"
    assert members["usr/bin/dockerd-hardlink"].islnk() or members["usr/bin/dockerd"].islnk()
    assert members["certs"].mode == 0o1777
    assert all(member.uname == "" and member.gname == "" for member in members.values())


# --- the entrypoints, in the lab's base image -------------------------------------------------------

FAKE_DOCKERD = """#!/bin/sh
printf 'dockerd'; printf ' %s' "$@"; printf '\\n'
"""
# `docker help NAME` succeeds for docker's own commands only, as the real client's does.
FAKE_DOCKER = """#!/bin/sh
if [ "$1" = help ]; then
  case "$2" in build|ps|version|info) exit 0 ;; *) exit 1 ;; esac
fi
printf 'docker'; printf ' %s' "$@"; printf '\\n'
"""


@pytest.fixture(scope="module")
def base_image():
    return os.environ.get("BEHINDPROXY_BASE_IMAGE") or subprocess.run(
        [str(LAB / "bin" / "base-image")], check=True, capture_output=True, text=True).stdout.split()[-1]


@pytest.fixture
def entrypoint(tmp_path, base_image):
    """Run an entrypoint in the base image, dockerd and docker replaced by stand-ins that print their
    arguments; /certs is a folder of the test; returns (exit status, output)."""
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name, text in (("dockerd", FAKE_DOCKERD), ("docker", FAKE_DOCKER)):
        (fakes / name).write_text(text)
        (fakes / name).chmod(0o755)
    certs = tmp_path / "certs"
    certs.mkdir()

    def run(script, arguments=(), environment=None, shell_prefix=""):
        command = ["docker", "run", "--rm", "--hostname", "dind-test", "-v", "%s:/ep:ro" % ENTRYPOINTS,
                   "-v", "%s:/fakes:ro" % fakes, "-v", "%s:/certs" % certs,
                   "-e", "PATH=/fakes:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        for name, value in (environment or {}).items():
            command += ["-e", "%s=%s" % (name, value)]
        command += ["--entrypoint", "sh", base_image, "-c", shell_prefix + 'exec /ep/%s "$@"' % script, script,
                    *arguments]
        completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        return completed.returncode, completed.stdout + completed.stderr
    run.certs = certs
    return run


def openssl_text(path):
    return subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(path)], check=True, capture_output=True,
                          text=True).stdout


def test_dind_without_tls_listens_on_2375_and_passes_its_flags_to_dockerd(entrypoint):
    status, output = entrypoint("dockerd-entrypoint.sh", ["--registry-mirror=http://172.17.0.1:5000", "--bip=10.9.0.1/24"],
                                {"DOCKER_TLS_CERTDIR": ""})
    assert status == 0, output
    assert "dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false " \
           "--registry-mirror=http://172.17.0.1:5000 --bip=10.9.0.1/24" in output
    assert os.listdir(entrypoint.certs) == [], "no certificates without DOCKER_TLS_CERTDIR"


def test_dind_with_tls_makes_a_ca_server_and_client_certificate_and_listens_on_2376(entrypoint):
    status, output = entrypoint("dockerd-entrypoint.sh", [], {"DOCKER_TLS_CERTDIR": "/certs",
                                                              "DOCKER_TLS_SAN": "DNS:shared-dind"})
    assert status == 0, output
    assert ("dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2376 --tlsverify "
            "--tlscacert=/certs/server/ca.pem --tlscert=/certs/server/cert.pem --tlskey=/certs/server/key.pem") in output
    certs = entrypoint.certs
    for directory in ("server", "client"):
        assert sorted(os.listdir(certs / directory)) == ["ca.pem", "cert.pem", "key.pem"]
        assert (certs / directory / "key.pem").stat().st_mode & 0o777 == 0o600
        subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca" / "cert.pem"),
                        str(certs / directory / "cert.pem")], check=True, capture_output=True)
        assert (certs / directory / "ca.pem").read_bytes() == (certs / "ca" / "cert.pem").read_bytes()
    server = openssl_text(certs / "server" / "cert.pem")
    for name in ("DNS:docker", "DNS:localhost", "DNS:dind-test", "IP Address:127.0.0.1", "DNS:shared-dind",
                 "TLS Web Server Authentication"):
        assert name in server
    assert "TLS Web Client Authentication" in openssl_text(certs / "client" / "cert.pem")


def test_certificates_are_kept_while_valid_and_a_stale_client_certificate_is_replaced(entrypoint):
    entrypoint("dockerd-entrypoint.sh", [], {"DOCKER_TLS_CERTDIR": "/certs"})
    certs = entrypoint.certs
    first = {name: (certs / name / "cert.pem").read_bytes() for name in ("ca", "server", "client")}
    entrypoint("dockerd-entrypoint.sh", [], {"DOCKER_TLS_CERTDIR": "/certs"})
    assert {name: (certs / name / "cert.pem").read_bytes() for name in first} == first
    # A new dind service with the job's client volume from an earlier job: a new CA, the old client cert.
    entrypoint("dockerd-entrypoint.sh", [], {"DOCKER_TLS_CERTDIR": "/certs"}, shell_prefix="rm -r /certs/ca; ")
    assert (certs / "client" / "cert.pem").read_bytes() != first["client"]
    subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca" / "cert.pem"), str(certs / "client" / "cert.pem")],
                   check=True, capture_output=True)


def test_dind_runs_any_other_command_as_given(entrypoint):
    status, output = entrypoint("dockerd-entrypoint.sh", ["sh", "-c", "echo plain-command"], {"DOCKER_TLS_CERTDIR": ""})
    assert (status, output.strip()) == (0, "plain-command")


@pytest.mark.parametrize("arguments, environment, expected", [
    (["sh", "-c", "echo $DOCKER_HOST"], {"DOCKER_TLS_CERTDIR": ""}, "tcp://docker:2375"),
    (["sh", "-c", "echo $DOCKER_HOST"], {"DOCKER_TLS_CERTDIR": "/certs"}, "tcp://docker:2375"),
    (["sh", "-c", "echo $DOCKER_HOST"], {"DOCKER_HOST": "tcp://shared-dind:2375"}, "tcp://shared-dind:2375"),
    (["--version"], {}, "docker --version"),
    (["build", "-t", "x", "."], {}, "docker build -t x ."),
])
def test_the_cli_points_at_a_service_called_docker_unless_told_otherwise(entrypoint, arguments, environment, expected):
    status, output = entrypoint("docker-entrypoint.sh", arguments, environment)
    assert (status, output.strip()) == (0, expected)


def test_the_cli_uses_tls_when_the_dind_client_certificates_are_shared(entrypoint):
    entrypoint("dockerd-entrypoint.sh", [], {"DOCKER_TLS_CERTDIR": "/certs"})
    status, output = entrypoint("docker-entrypoint.sh",
                                ["sh", "-c", "echo $DOCKER_HOST $DOCKER_TLS_VERIFY $DOCKER_CERT_PATH"],
                                {"DOCKER_TLS_CERTDIR": "/certs"})
    assert (status, output.strip()) == (0, "tcp://docker:2376 1 /certs/client")


def test_the_entrypoints_are_executable_as_the_image_runs_them():
    for name in ("dockerd-entrypoint.sh", "docker-entrypoint.sh"):
        assert os.access(ENTRYPOINTS / name, os.X_OK), name
