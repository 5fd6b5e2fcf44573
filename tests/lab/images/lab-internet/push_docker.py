# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Push the lab's `docker` images, made from Debian 12's docker.io, into the lab's hub.

Used at image build time. One layer, made from ROOTFS (docker-image/make-rootfs:
docker.io, containerd, runc, iptables, openssl, curl and the two entrypoints),
is shared by two image configurations, as Docker's own images share theirs:

- dind: entrypoint dockerd-entrypoint.sh (dockerd on the socket and on TCP,
  2375 plain or 2376 with TLS), VOLUME /var/lib/docker, ports 2375 and 2376;
  tags dind, <version>-dind, <major.minor>-dind.
- cli: entrypoint docker-entrypoint.sh, command sh (the job image: the docker
  client, pointed at a service called `docker`); tags cli, latest, <version>,
  <major.minor>, <version>-cli, <major.minor>-cli.

Both set DOCKER_TLS_CERTDIR=/certs, as Docker's images do. The label
org.opencontainers.image.description says they are the lab's, not Docker's.

    python3 push_docker.py REGISTRY_URL REPOSITORY ROOTFS
"""

import io
import os
import re
import sys
import tarfile

from push_busybox import debian_architecture, gzipped, image_config, push_compressed_image, sha256_digest

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TLS_CERTDIR = "DOCKER_TLS_CERTDIR=/certs"
# Fast enough for a few hundred megabytes at build time; level 9 saves little more.
COMPRESSION_LEVEL = 6


def docker_version(dpkg_status):
    """The upstream version of the docker.io package in a dpkg status file: 20.10.24 for 20.10.24+dfsg1-1+deb12u1."""
    for paragraph in dpkg_status.split("\n\n"):
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", paragraph, re.MULTILINE))
        if fields.get("Package") == "docker.io" and fields.get("Status", "").endswith(" installed"):
            match = re.match(r"(?:\d+:)?(\d+\.\d+(?:\.\d+)?)", fields.get("Version", ""))
            if match:
                return match.group(1)
            raise SystemExit("push_docker.py: cannot read docker.io's version %r" % fields.get("Version"))
    raise SystemExit("push_docker.py: docker.io is not installed in the root filesystem")


def image_tags(version):
    """The tags of each variant, as Docker names its own: dind and cli (latest is the cli)."""
    short = ".".join(version.split(".")[:2])
    return {
        "dind": ["dind", version + "-dind", short + "-dind"],
        "cli": ["cli", "latest", version, short, version + "-cli", short + "-cli"],
    }


def container_configs(version):
    description = ("behindproxy lab: Debian 12's docker.io %s, not Docker's official image" % version)
    labels = {"org.opencontainers.image.description": description}
    return {
        "dind": {"Env": [PATH, TLS_CERTDIR], "Entrypoint": ["dockerd-entrypoint.sh"], "Cmd": [],
                 "Volumes": {"/var/lib/docker": {}}, "ExposedPorts": {"2375/tcp": {}, "2376/tcp": {}},
                 "Labels": labels},
        "cli": {"Env": [PATH, TLS_CERTDIR], "Entrypoint": ["docker-entrypoint.sh"], "Cmd": ["sh"],
                "Labels": labels},
    }


def owner_only_numeric(entry):
    """Numeric owners only: the image's /etc/passwd, not the build's, names them."""
    entry.uname = entry.gname = ""
    return entry


def layer_tar(rootfs):
    """The root filesystem as one uncompressed layer (names relative to /, sorted, hard links kept)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(os.listdir(rootfs)):
            archive.add(os.path.join(rootfs, name), arcname=name, recursive=True, filter=owner_only_numeric)
    return buffer.getvalue()


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: push_docker.py REGISTRY_URL REPOSITORY ROOTFS")
    registry, repository, rootfs = argv[0].rstrip("/"), argv[1], argv[2]
    with open(os.path.join(rootfs, "var/lib/dpkg/status"), encoding="utf-8") as handle:
        version = docker_version(handle.read())
    layer = layer_tar(rootfs)
    diff_id = sha256_digest(layer)
    compressed = gzipped(layer, COMPRESSION_LEVEL)
    sys.stdout.write("docker %s: layer %d bytes, %d gzipped\n" % (version, len(layer), len(compressed)))
    tags = image_tags(version)
    for variant, container in container_configs(version).items():
        config = image_config(debian_architecture(), diff_id, container=container,
                              created_by="behindproxy lab: Debian docker.io %s (%s)" % (version, variant))
        for tag in tags[variant]:
            push_compressed_image(registry, repository, tag, compressed, config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
