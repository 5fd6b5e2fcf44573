# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The corp hosts' runtime wrapper (tests/lab/runtime/lab_runc.py): the spec edit and the runc call."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import LAB, load_lab_module

lab_runc = load_lab_module("lab_runc", LAB / "runtime" / "lab_runc.py")

# The machine the lab runs on lacks CAP_SYS_RESOURCE (bit 24) only.
MACHINE_STATUS = "Name:\tpython3\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\n"
# A corp host: Docker's default capabilities plus SYS_ADMIN and NET_ADMIN.
CORP_HOST_STATUS = "CapPrm:\t00000000a82435fb\nCapBnd:\t00000000a82435fb\n"
DOCKER_DEFAULT = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                  "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                  "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def privileged_spec():
    """The parts of a `docker run --privileged` config.json the wrapper looks at, and some it must not."""
    everything = list(lab_runc.CAPABILITIES)
    return {
        "ociVersion": "1.0.2-dev",
        "process": {"args": ["dockerd"], "env": ["PATH=/usr/bin"], "cwd": "/",
                    "capabilities": {kind: list(everything) for kind in
                                     ("bounding", "effective", "inheritable", "permitted")}},
        "root": {"path": "/var/lib/docker/vfs/dir/abc"},
        "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "rw"]}],
        "linux": {"resources": {"devices": [{"allow": True, "access": "rwm"}]}, "maskedPaths": []},
    }


def test_the_machines_bounding_set_lacks_only_sys_resource():
    assert lab_runc.unavailable_capabilities(MACHINE_STATUS) == {"CAP_SYS_RESOURCE"}


def test_a_corp_hosts_bounding_set_is_dockers_default_with_sys_admin_and_net_admin():
    unavailable = lab_runc.unavailable_capabilities(CORP_HOST_STATUS)
    available = set(lab_runc.CAPABILITIES) - unavailable
    assert available == set(DOCKER_DEFAULT) | {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}


def test_a_status_without_a_bounding_set_is_an_error():
    with pytest.raises(ValueError, match="CapBnd"):
        lab_runc.unavailable_capabilities("Name:\tsh\n")


def test_privileged_spec_loses_exactly_the_unavailable_capabilities_in_every_set():
    unavailable = lab_runc.unavailable_capabilities(CORP_HOST_STATUS)
    spec = privileged_spec()
    original = copy.deepcopy(spec)
    edited, removed = lab_runc.restrict_spec(spec, unavailable)
    assert removed == sorted(unavailable)
    for kind, names in edited["process"]["capabilities"].items():
        assert set(names) == set(lab_runc.CAPABILITIES) - unavailable, kind
        assert names == [name for name in lab_runc.CAPABILITIES if name not in unavailable], "order kept"
    assert {key: value for key, value in edited.items() if key != "process"} == \
        {key: value for key, value in original.items() if key != "process"}
    assert {key: value for key, value in edited["process"].items() if key != "capabilities"} == \
        {key: value for key, value in original["process"].items() if key != "capabilities"}
    assert spec == original, "the input document is not changed in place"


def test_a_spec_within_the_bounding_set_is_returned_unchanged():
    spec = privileged_spec()
    for kind in spec["process"]["capabilities"]:
        spec["process"]["capabilities"][kind] = list(DOCKER_DEFAULT)
    edited, removed = lab_runc.restrict_spec(spec, lab_runc.unavailable_capabilities(CORP_HOST_STATUS))
    assert (edited, removed) == (spec, [])
    assert lab_runc.restrict_spec({"ociVersion": "1.0.2"}, {"CAP_SYS_RESOURCE"}) == ({"ociVersion": "1.0.2"}, [])


def test_capability_names_the_table_does_not_know_are_left_to_runc():
    process = {"capabilities": {"bounding": ["CAP_SYS_RESOURCE", "CAP_FUTURE_THING", "CAP_CHOWN"]}}
    edited, removed = lab_runc.restrict_process(process, {"CAP_SYS_RESOURCE"})
    assert edited["capabilities"]["bounding"] == ["CAP_FUTURE_THING", "CAP_CHOWN"]
    assert removed == ["CAP_SYS_RESOURCE"]


# How containerd's runc shim calls the runtime (seen on a corp host), and other spellings runc accepts.
GLOBAL = ["--root", "/var/run/docker/runtime-runc/moby", "--log", "/run/containerd/x/log.json", "--log-format",
          "json"]


@pytest.mark.parametrize("arguments, expected", [
    (GLOBAL + ["create", "--bundle", "/run/b", "--pid-file", "/run/b/init.pid", "ID"], [("/run/b/config.json", "bundle")]),
    (GLOBAL + ["--systemd-cgroup", "create", "--bundle=/run/b", "ID"], [("/run/b/config.json", "bundle")]),
    (["run", "-b", "/run/b", "ID"], [("/run/b/config.json", "bundle")]),
    (["create", "ID"], [("/work/dir/config.json", "bundle")]),
    (GLOBAL + ["exec", "--process", "/tmp/runc-process123", "--detach", "--pid-file", "/run/p.pid", "ID"],
     [("/tmp/runc-process123", "process")]),
    (["exec", "-p", "/tmp/p.json", "ID"], [("/tmp/p.json", "process")]),
    (["exec", "ID", "sh"], []),
    (GLOBAL + ["start", "ID"], []),
    (GLOBAL + ["delete", "--force", "ID"], []),
    (["--version"], []),
])
def test_the_files_a_runc_call_reads_its_process_from(arguments, expected):
    assert lab_runc.spec_files(arguments, "/work/dir") == expected


def test_bundle_file_is_rewritten_with_its_mode_and_an_unaffected_file_is_not_touched(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = bundle / "config.json"
    config.write_text(json.dumps(privileged_spec()))
    config.chmod(0o640)
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": {"bounding": list(DOCKER_DEFAULT)}}))
    before = process.stat().st_mtime_ns
    unavailable = lab_runc.unavailable_capabilities(MACHINE_STATUS)
    lab_runc.restrict_files(["create", "--bundle", str(bundle), "ID"], "/", unavailable)
    lab_runc.restrict_files(["exec", "--process", str(process), "ID"], "/", unavailable)
    written = json.loads(config.read_text())
    assert "CAP_SYS_RESOURCE" not in written["process"]["capabilities"]["effective"]
    assert "CAP_SYS_ADMIN" in written["process"]["capabilities"]["effective"]
    assert config.stat().st_mode & 0o777 == 0o640
    assert process.stat().st_mtime_ns == before
    assert sorted(os.listdir(bundle)) == ["config.json"], "no temporary file left behind"


FAKE_RUNC = """#!/bin/sh
printf '%s\\n' "$@" >"$RECORD"
python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["process"]["capabilities"]["bounding"]))' \
  "$BUNDLE/config.json" >>"$RECORD"
"""


def test_main_edits_the_bundle_then_runs_runc_with_the_original_arguments(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(privileged_spec()))
    fake = tmp_path / "runc"
    fake.write_text(FAKE_RUNC)
    fake.chmod(0o755)
    record = tmp_path / "record"
    arguments = GLOBAL + ["create", "--bundle", str(bundle), "--pid-file", str(bundle / "init.pid"), "ID"]
    status = (tmp_path / "status")
    status.write_text(CORP_HOST_STATUS)
    program = ("import sys; sys.path.insert(0, %r); import lab_runc; lab_runc.RUNC = %r; lab_runc.STATUS_FILE = %r; "
               "lab_runc.main(sys.argv[1:])" % (str(LAB / "runtime"), str(fake), str(status)))
    subprocess.run([sys.executable, "-c", program, *arguments], check=True,
                   env=dict(os.environ, RECORD=str(record), BUNDLE=str(bundle)))
    lines = record.read_text().splitlines()
    assert lines[:-1] == arguments
    assert set(json.loads(lines[-1])) == set(DOCKER_DEFAULT) | {"CAP_SYS_ADMIN", "CAP_NET_ADMIN"}


@pytest.fixture
def busybox_bundle(tmp_path, job_image):
    """An OCI bundle (runc spec) whose rootfs is the busybox job image, asking for every capability."""
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed (tests/lab/bin/host-packages installs docker.io, which brings it)")
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    container = subprocess.run(["docker", "create", job_image, "true"], check=True, capture_output=True,
                               text=True).stdout.strip()
    try:
        exported = subprocess.run(["docker", "export", container], check=True, capture_output=True).stdout
    finally:
        subprocess.run(["docker", "rm", container], check=True, capture_output=True)
    subprocess.run(["tar", "-C", str(bundle / "rootfs"), "-x"], input=exported, check=True)
    subprocess.run([runc, "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["sh", "-c", "grep CapEff /proc/self/status"]
    for kind in ("bounding", "effective", "permitted"):
        spec["process"]["capabilities"][kind] = list(lab_runc.CAPABILITIES)
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def test_real_runc_refuses_a_privileged_spec_here_and_runs_it_through_the_wrapper(tmp_path, busybox_bundle):
    """On this machine as on a corp host: runc alone fails to apply caps; through the wrapper the
    container starts with every capability the machine has."""
    with open("/proc/self/status", encoding="ascii") as handle:
        unavailable = lab_runc.unavailable_capabilities(handle.read())
    if not unavailable:
        pytest.skip("this machine grants every capability: nothing for the wrapper to remove")
    state = tmp_path / "runc-state"
    plain = subprocess.run(["runc", "--root", str(state), "run", "--bundle", str(busybox_bundle), "plain-%d" % os.getpid()],
                           capture_output=True, text=True, check=False)
    assert plain.returncode != 0
    assert "unable to apply caps" in plain.stderr
    wrapped = subprocess.run([sys.executable, str(LAB / "runtime" / "lab_runc.py"), "--root", str(state), "run",
                              "--bundle", str(busybox_bundle), "wrapped-%d" % os.getpid()],
                             capture_output=True, text=True, check=False)
    assert wrapped.returncode == 0, wrapped.stderr
    effective = int(wrapped.stdout.split(":", 1)[1].strip(), 16)
    granted = {name for bit, name in enumerate(lab_runc.CAPABILITIES) if effective >> bit & 1}
    assert granted == set(lab_runc.CAPABILITIES) - unavailable
