# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform every scenario stands on: systemd as PID 1 and a nested Docker engine."""

BUSYBOX_IMAGE = "behindproxy/platform-busybox:test"


def test_systemd_is_pid_1_and_running(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    state = host.run("systemctl is-system-running")
    assert state.stdout.strip() == "running", state.stdout + state.stderr


def test_converge_left_its_mark(host):
    mark = host.file("/etc/behindproxy-platform")
    assert mark.is_file
    assert mark.mode == 0o644


def test_nested_engine_is_active_and_uses_vfs(host):
    assert host.service("docker").is_running
    assert host.service("docker").is_enabled
    driver = host.check_output("docker info --format '{{.Driver}}'")
    assert driver == "vfs"


def test_nested_engine_runs_a_container_of_its_own(host):
    # An image made on the spot from Debian's busybox-static: nothing is pulled.
    host.run_expect(
        [0],
        "set -e; rootfs=$(mktemp -d); mkdir -p $rootfs/bin;"
        " cp /bin/busybox $rootfs/bin/busybox; ln -s busybox $rootfs/bin/sh;"
        f" tar -C $rootfs -c . | docker import - {BUSYBOX_IMAGE}; rm -rf $rootfs",
    )
    greeting = host.run(f"docker run --rm {BUSYBOX_IMAGE} /bin/busybox echo hello from the nested engine")
    assert greeting.rc == 0, greeting.stderr
    assert greeting.stdout.strip() == "hello from the nested engine"
