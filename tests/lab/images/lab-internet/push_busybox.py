# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build a one-layer busybox image from Debian's busybox-static and push it.

Used at image build time to preload the lab's stand-in for Docker Hub. It
speaks the registry HTTP API v2 directly, so no docker client is needed:
upload the layer and the image config as blobs, then put the manifest.

    python3 push_busybox.py REGISTRY_URL REPOSITORY TAG
"""

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

BUSYBOX = "/bin/busybox"
# A fixed timestamp keeps the layer, and so the image digest, the same in
# every build of the same busybox package.
EPOCH = 1767225600
CREATED = "2026-01-01T00:00:00Z"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Debian architecture name -> (OCI architecture, variant).
ARCHITECTURES = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "i386": ("386", None),
    "ppc64el": ("ppc64le", None),
    "s390x": ("s390x", None),
}
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_entry(name, kind, mode, size=0, target=""):
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.size = size
    entry.linkname = target
    entry.mtime = EPOCH
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = "root"
    return entry


def layer_tar(busybox, applets):
    """The uncompressed root filesystem: busybox, one symlink per applet, /etc basics."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for directory, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            archive.addfile(tar_entry(directory, tarfile.DIRTYPE, mode))
        archive.addfile(tar_entry("bin/busybox", tarfile.REGTYPE, 0o755, len(busybox)), io.BytesIO(busybox))
        for applet in sorted(set(applets) - {"busybox"}):
            archive.addfile(tar_entry("bin/" + applet, tarfile.SYMTYPE, 0o777, target="busybox"))
        archive.addfile(tar_entry("etc/passwd", tarfile.REGTYPE, 0o644, len(PASSWD)), io.BytesIO(PASSWD))
        archive.addfile(tar_entry("etc/group", tarfile.REGTYPE, 0o644, len(GROUP)), io.BytesIO(GROUP))
    return buffer.getvalue()


def gzipped(data, level=9):
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=level) as compressed:
        compressed.write(data)
    return buffer.getvalue()


def image_config(debian_architecture, diff_id, container=None, created_by="behindproxy lab: Debian busybox-static"):
    """The image configuration; container is its `config` (default: busybox's sh)."""
    if debian_architecture not in ARCHITECTURES:
        raise SystemExit("push_busybox.py: unsupported architecture %r, expected one of %s"
                         % (debian_architecture, ", ".join(sorted(ARCHITECTURES))))
    architecture, variant = ARCHITECTURES[debian_architecture]
    config = {
        "architecture": architecture,
        "os": "linux",
        "created": CREATED,
        "config": container or {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                                "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": CREATED, "created_by": created_by}],
    }
    if variant:
        config["variant"] = variant
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def request(method, url, data=None, content_type=None):
    headers = {"Content-Type": content_type} if content_type else {}
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers)) as answer:
        return answer.headers


def push_blob(registry, repository, data):
    digest = sha256_digest(data)
    try:
        request("HEAD", "%s/v2/%s/blobs/%s" % (registry, repository, digest))
        return digest
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
    headers = request("POST", "%s/v2/%s/blobs/uploads/" % (registry, repository))
    upload = urllib.parse.urljoin(registry + "/", headers["Location"])
    separator = "&" if "?" in upload else "?"
    request("PUT", upload + separator + "digest=" + urllib.parse.quote(digest), data, "application/octet-stream")
    return digest


def debian_architecture():
    return subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()


def push_image(registry, repository, tag, layer, config):
    """Push a one-layer image: the layer (uncompressed tar) gzipped, its configuration, the manifest."""
    push_compressed_image(registry, repository, tag, gzipped(layer), config)


def push_compressed_image(registry, repository, tag, compressed, config):
    """Push a one-layer image from its gzipped layer and its configuration (a layer already in the
    repository is not sent again, so several tags may share one)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": push_blob(registry, repository, config)},
        "layers": [{"mediaType": LAYER_TYPE, "size": len(compressed),
                    "digest": push_blob(registry, repository, compressed)}],
    }
    body = json.dumps(manifest, indent=3).encode()
    request("PUT", "%s/v2/%s/manifests/%s" % (registry, repository, tag), body, MANIFEST_TYPE)
    sys.stdout.write("pushed %s:%s %s\n" % (repository, tag, sha256_digest(body)))


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: push_busybox.py REGISTRY_URL REPOSITORY TAG")
    registry, repository, tag = argv[0].rstrip("/"), argv[1], argv[2]
    with open(BUSYBOX, "rb") as handle:
        busybox = handle.read()
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    layer = layer_tar(busybox, applets)
    push_image(registry, repository, tag, layer, image_config(debian_architecture(), sha256_digest(layer)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
