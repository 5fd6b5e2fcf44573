# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a one-layer registry image from Debian's docker-registry and push it.

Used at image build time to preload the lab's stand-in for Docker Hub with
`library/registry:2`, the image of the registry_mirror role's container
mode: Debian's distribution binary, the C library it links, the system's CA
bundle, /etc/passwd and /etc/group. Like the official image, it runs
`docker-registry serve /etc/docker/registry/config.yml` as root, keeps its
storage in /var/lib/registry, and answers `--version`.

    python3 push_registry.py REGISTRY_URL REPOSITORY TAG
"""

import io
import os
import subprocess
import sys
import tarfile

from push_busybox import GROUP, PASSWD, debian_architecture, image_config, push_image, sha256_digest, tar_entry

REGISTRY = "/usr/bin/docker-registry"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CONTAINER = {
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Entrypoint": [REGISTRY],
    "Cmd": ["serve", "/etc/docker/registry/config.yml"],
    "ExposedPorts": {"5000/tcp": {}},
    "Volumes": {"/var/lib/registry": {}},
}


def linked_libraries(binary):
    """The paths of the shared libraries the binary loads (ldd), its loader included."""
    listing = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in listing.splitlines():
        words = line.split()
        path = words[2] if "=>" in words and len(words) > 2 else words[0]
        if path.startswith("/"):
            paths.append(path)
    return paths


def layer_tar():
    files = [REGISTRY, *linked_libraries(REGISTRY)] + ([CA_BUNDLE] if os.path.exists(CA_BUNDLE) else [])
    directories = sorted({os.path.dirname(path).lstrip("/") for path in files}
                         | {"etc", "etc/docker", "etc/docker/registry", "var", "var/lib", "var/lib/registry", "tmp"})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        added = set()
        for directory in directories:
            parts = directory.split("/")
            for depth in range(1, len(parts) + 1):
                name = "/".join(parts[:depth])
                if name not in added:
                    added.add(name)
                    archive.addfile(tar_entry(name, tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755))
        for path in files:
            with open(os.path.realpath(path), "rb") as handle:
                data = handle.read()
            mode = 0o644 if path == CA_BUNDLE else 0o755
            archive.addfile(tar_entry(path.lstrip("/"), tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
        archive.addfile(tar_entry("etc/passwd", tarfile.REGTYPE, 0o644, len(PASSWD)), io.BytesIO(PASSWD))
        archive.addfile(tar_entry("etc/group", tarfile.REGTYPE, 0o644, len(GROUP)), io.BytesIO(GROUP))
    return buffer.getvalue()


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: push_registry.py REGISTRY_URL REPOSITORY TAG")
    registry, repository, tag = argv[0].rstrip("/"), argv[1], argv[2]
    layer = layer_tar()
    config = image_config(debian_architecture(), sha256_digest(layer), container=CONTAINER,
                          created_by="behindproxy lab: Debian docker-registry")
    push_image(registry, repository, tag, layer, config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
