# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load the lab's stdlib programs (the fake GitLab) and run the fake GitLab on loopback."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
import threading

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[3]
LAB = REPOSITORY / "tests" / "lab"


def load_lab_module(name, path):
    """Import a lab program under a distinct name (its file names, server.py and client.py, are generic)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fakegitlab_server = load_lab_module("lab_fakegitlab_server", LAB / "fakegitlab" / "server.py")
fakegitlab_client = load_lab_module("lab_fakegitlab_client", LAB / "fakegitlab" / "client.py")


class RunningFakeGitLab:
    def __init__(self, gitlab, api_server, control_server):
        self.gitlab = gitlab
        self.api_url = "http://127.0.0.1:%d" % api_server.server_address[1]
        self.control = fakegitlab_client.FakeGitLabControl("http://127.0.0.1:%d" % control_server.server_address[1])


@pytest.fixture
def fake_gitlab(tmp_path):
    gitlab = fakegitlab_server.FakeGitLab(str(tmp_path))
    servers = [
        fakegitlab_server.make_server(fakegitlab_server.ApiHandler, gitlab, "127.0.0.1", 0),
        fakegitlab_server.make_server(fakegitlab_server.ControlHandler, gitlab, "127.0.0.1", 0),
    ]
    threads = [threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    yield RunningFakeGitLab(gitlab, *servers)
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def job_image(tmp_path_factory):
    """A tiny job image made here from Debian's busybox-static (nothing is pulled), reused by tag."""
    import hashlib

    workdir = tmp_path_factory.mktemp("busybox")
    subprocess.run(["apt-get", "download", "busybox-static"], cwd=workdir, check=True, capture_output=True)
    package = next(workdir.glob("busybox-static_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(package), str(workdir / "x")], check=True)
    binary = (workdir / "x" / "bin" / "busybox").read_bytes()
    tag = "behindproxy/job-busybox:%s" % hashlib.sha256(binary).hexdigest()[:12]
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True, check=False).returncode == 0:
        return tag
    rootfs = workdir / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "tmp").mkdir()
    (rootfs / "bin" / "busybox").write_bytes(binary)
    (rootfs / "bin" / "busybox").chmod(0o755)
    applets = subprocess.run([str(rootfs / "bin" / "busybox"), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (rootfs / "bin" / applet).symlink_to("busybox")
    archive = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], check=True, capture_output=True).stdout
    subprocess.run(["docker", "import", "-", tag], input=archive, check=True, capture_output=True)
    return tag


GIT = ["git", "-c", "user.name=lab", "-c", "user.email=lab@lab.test", "-c", "init.defaultBranch=main"]


@pytest.fixture
def bare_repository(tmp_path):
    """A bare repository: `main` with two commits, an annotated tag `v1` on the first."""
    work = tmp_path / "work"
    subprocess.run(GIT + ["init", "-q", str(work)], check=True)
    (work / "README").write_text("first\n")
    subprocess.run(GIT + ["-C", str(work), "add", "README"], check=True)
    subprocess.run(GIT + ["-C", str(work), "commit", "-q", "-m", "first"], check=True)
    subprocess.run(GIT + ["-C", str(work), "tag", "-a", "v1", "-m", "v1"], check=True)
    (work / "README").write_text("hello from the lab repository\n")
    subprocess.run(GIT + ["-C", str(work), "commit", "-q", "-am", "second"], check=True)
    bare = tmp_path / "served" / "lab.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)

    def rev(name):
        return subprocess.run(["git", "-C", str(bare), "rev-parse", name + "^{commit}"], check=True,
                              capture_output=True, text=True).stdout.strip()
    return {"path": bare, "main": rev("main"), "v1": rev("v1")}
