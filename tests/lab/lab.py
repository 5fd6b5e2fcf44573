# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bring the lab's corporate network up and down, and describe it for tests.

    lab up             build missing images, generate missing secrets, create
                       the networks and containers, wait until every service
                       answers; a no-op when the lab is already up as wanted
    lab down [--purge] remove exactly the lab's containers and networks
                       (--purge also deletes build/lab: secrets, CA, repository)
    lab status         one line per network, container and service check
    lab env            JSON for tests: proxy, credentials, CA, URLs, registry
    lab new-apt-key    sign the apt repository again with a new key (the
                       vendor replacing its signing key); prints the key file
    lab proxy-stop     stop corp-proxy (a network fault for tests), keeping
                       its addresses to check them when it starts again
    lab proxy-start    start corp-proxy again, wait until it answers, and
                       fail when it came back at another address

Topology, names and ports: docs/lab.md. Standard library only.
"""

import argparse
import base64
import concurrent.futures
import contextlib
import fcntl
import functools
import hashlib
import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = REPOSITORY_ROOT / "tests" / "lab"
STATE_DIR = REPOSITORY_ROOT / "build" / "lab"
SECRETS_DIR = STATE_DIR / "secrets"
CA_DIR = STATE_DIR / "ca"
TLS_DIR = STATE_DIR / "tls"
PUBLIC_DIR = STATE_DIR / "public"
APT_DIR = PUBLIC_DIR / "apt"
BASIC_PASSWORD_FILE = SECRETS_DIR / "proxy-basic-password"
BASIC_HTPASSWD_FILE = SECRETS_DIR / "proxy-basic.htpasswd"
# "Docker Hub with an account": the upstream of a registry mirror that logs in.
# The mounted folder holds the htpasswd line and the token, not the password.
HUB_ACCOUNT_DIR = SECRETS_DIR / "hub-account"
HUB_ACCOUNT_PASSWORD_FILE = SECRETS_DIR / "hub-account-password"
HUB_ACCOUNT_HTPASSWD_FILE = HUB_ACCOUNT_DIR / "htpasswd"
HUB_ACCOUNT_TOKEN_FILE = HUB_ACCOUNT_DIR / "token"
CA_KEY_FILE = CA_DIR / "ca.key"
CA_CERT_FILE = CA_DIR / "ca.crt"
SERVER_KEY_FILE = TLS_DIR / "server.key"
SERVER_CERT_FILE = TLS_DIR / "server.crt"
PUBLISHED_CA_FILE = PUBLIC_DIR / "lab-ca.crt"
# corp-proxy's addresses while `lab proxy-stop` has it stopped.
STOPPED_PROXY_FILE = STATE_DIR / "proxy-stopped.json"
APT_REPOSITORY_BUILDER = LAB_DIR / "bin" / "apt-repository"
FAKE_GITLAB_DIR = LAB_DIR / "fakegitlab"
KNOWN_FILE = LAB_DIR / "images" / "lab-internet" / "files" / "hello.txt"

CORP_NETWORK = "behindproxy-lab-corp"
# A corporate LAN outside Docker's default address pools (172.17.0.0/16 to
# 172.31.0.0/16, 192.168.0.0/16), so that a runner host's own Docker bridges
# and the corp network can be told apart, as on a real corporate network.
# 198.18.0.0/15 is reserved for network tests (RFC 2544): never a real network.
CORP_SUBNET = "198.18.0.0/24"
WAN_NETWORK = "behindproxy-lab-wan"
PROXY_CONTAINER = "behindproxy-lab-proxy"
INTERNET_CONTAINER = "behindproxy-lab-internet"
PROXY_ALIAS = "corp-proxy"
PROXY_PORT = 3128
INTERNET_NAMES = ("gitlab.lab.test", "hub.lab.test", "hub-account.lab.test", "push.lab.test", "files.lab.test",
                  "git.lab.test", "packages.lab.test")
REGISTRY_NAME = "hub.lab.test"
# The same registry behind Docker Hub's kind of login: a Bearer challenge, a
# token endpoint that takes the account's Basic credentials.
HUB_ACCOUNT_NAME = "hub-account.lab.test"
HUB_ACCOUNT_USER = "mirror"
REGISTRY_PLAIN_PORT = 5000
# Docker's images as the hub holds them, made from Debian's docker.io
# (images/lab-internet/push_docker.py): dind for services, cli for jobs.
DOCKER_DIND_IMAGE = REGISTRY_NAME + "/library/docker:dind"
DOCKER_CLI_IMAGE = REGISTRY_NAME + "/library/docker:cli"
# Where jobs push: a second registry, writable without an account, reached
# through the proxy on 443; its plain port is for the controller only.
PUSH_REGISTRY_NAME = "push.lab.test"
PUSH_REGISTRY_PLAIN_PORT = 5001
FAKE_GITLAB_HTTP_PORT = 8080
FAKE_GITLAB_HTTPS_PORT = 8443
FAKE_GITLAB_CONTROL_PORT = 8081
GIT_REPOSITORY_PATH = "/lab.git"
APT_SUITE = "bookworm"
APT_COMPONENT = "main"
BASIC_USER = "proxyuser"
# ntlm_fake_auth accepts any password; a fixed one lets cntlm compute hashes.
NTLM_DOMAIN = "LAB"
NTLM_USER = "runner"
NTLM_PASSWORD = "lab-ntlm-password"
# The NTLM account corp-proxy refuses with 407 (images/lab-proxy/refused-accounts).
NTLM_REFUSED_USER = "locked"
# Where the proxy forwards to: the fake internet and Debian's archive, so that
# corp hosts install their packages through it like a corporate host would.
PROXY_DESTINATIONS = (".lab.test", "deb.debian.org", "security.debian.org")

LABEL_ROLE = "behindproxy.lab.role"
LABEL_SPEC = "behindproxy.lab.spec"
IMAGES = {"proxy": "behindproxy/lab-proxy", "internet": "behindproxy/lab-internet"}
WAIT_SECONDS = float(os.environ.get("LAB_WAIT_SECONDS", "90"))
CHECK_TIMEOUT = 3.0


class LabError(Exception):
    """A failure the user can act on; the message says what and where."""


def say(message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run(command, check=True, input_text=None):
    """Run a command; on failure raise LabError with its stderr."""
    result = subprocess.run(command, capture_output=True, text=True, input=input_text, check=False)
    if check and result.returncode != 0:
        output = result.stderr.strip() or result.stdout.strip()
        raise LabError("%s failed (exit %d): %s" % (" ".join(command[:4]), result.returncode, output))
    return result


def docker_inspect(kind, name):
    """The inspect document of a container, network or image, or None when absent."""
    result = run(["docker", kind, "inspect", name], check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]


# ---------------------------------------------------------------- images

def base_image():
    result = run([str(LAB_DIR / "bin" / "base-image")])
    return result.stdout.strip().splitlines()[-1]


def recipe_hash(recipe_dir, base_tag):
    """A hash of every file of an image recipe and of the base image tag."""
    digest = hashlib.sha256(base_tag.encode() + b"\0")
    for path in sorted(p for p in recipe_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(recipe_dir)).encode() + b"\0")
        digest.update(("%o" % (path.stat().st_mode & 0o777)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def ensure_image(role, base_tag):
    recipe_dir = LAB_DIR / "images" / IMAGES[role].split("/")[1]
    tag = "%s:%s" % (IMAGES[role], recipe_hash(recipe_dir, base_tag))
    if docker_inspect("image", tag) is None:
        started = time.monotonic()
        say("lab up: building %s" % tag)
        run(["docker", "build", "-q", "--build-arg", "BASE_IMAGE=" + base_tag, "-t", tag, str(recipe_dir)])
        say("lab up: built %s in %.1fs" % (tag, time.monotonic() - started))
        remove_superseded_images(IMAGES[role], tag)
    return tag


def remove_superseded_images(repository, current):
    """Drop the images of older recipes; one still used by a container stays (rmi refuses)."""
    listing = run(["docker", "image", "ls", repository, "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
    for reference in listing:
        if reference != current and run(["docker", "rmi", reference], check=False).returncode == 0:
            say("lab up: removed superseded image %s" % reference)


# ---------------------------------------------------------------- secrets

def write_private(path, content):
    """Write a file that only root may read, creating it 0600 from the start."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)


def ensure_state_dirs():
    for directory, mode in ((STATE_DIR, 0o700), (SECRETS_DIR, 0o700), (CA_DIR, 0o700),
                            (TLS_DIR, 0o700), (PUBLIC_DIR, 0o755)):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(mode)


def ensure_basic_credentials():
    """The proxy's Basic password, generated once, and its htpasswd line."""
    ensure_password_and_htpasswd(BASIC_PASSWORD_FILE, BASIC_HTPASSWD_FILE, BASIC_USER)


def ensure_password_and_htpasswd(password_file, htpasswd_file, user):
    """A password generated once into password_file, and user's htpasswd line for it."""
    if not password_file.exists():
        write_private(password_file, secrets.token_urlsafe(18) + "\n")
        htpasswd_file.unlink(missing_ok=True)
    if not htpasswd_file.exists():
        password = read_secret(password_file)
        # The password goes to openssl on stdin, never on a command line.
        hashed = run(["openssl", "passwd", "-6", "-stdin"], input_text=password + "\n").stdout.strip()
        write_private(htpasswd_file, "%s:%s\n" % (user, hashed))


def ensure_hub_account():
    """The upstream account's password (generated once), its htpasswd line and the token the
    token endpoint hands out; the internet container reads them from a read-only mount."""
    HUB_ACCOUNT_DIR.mkdir(mode=0o700, exist_ok=True)
    HUB_ACCOUNT_DIR.chmod(0o700)
    ensure_password_and_htpasswd(HUB_ACCOUNT_PASSWORD_FILE, HUB_ACCOUNT_HTPASSWD_FILE, HUB_ACCOUNT_USER)
    if not HUB_ACCOUNT_TOKEN_FILE.exists():
        write_private(HUB_ACCOUNT_TOKEN_FILE, secrets.token_hex(16) + "\n")


def read_secret(path):
    if not path.exists():
        raise LabError("%s is missing; run `lab up`" % path)
    return path.read_text(encoding="utf-8").strip()


def hub_account_password():
    return read_secret(HUB_ACCOUNT_PASSWORD_FILE)


def basic_password():
    return read_secret(BASIC_PASSWORD_FILE)


def ensure_certificates():
    """The lab CA (generated once) and a server certificate for *.lab.test."""
    if not (CA_KEY_FILE.exists() and CA_CERT_FILE.exists()):
        say("lab up: generating the lab CA in %s" % CA_DIR)
        run(["openssl", "req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
             "-keyout", str(CA_KEY_FILE), "-out", str(CA_CERT_FILE),
             "-subj", "/O=behindproxy lab/CN=behindproxy lab CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        CA_KEY_FILE.chmod(0o600)
        SERVER_CERT_FILE.unlink(missing_ok=True)
    CA_CERT_FILE.chmod(0o644)
    if not (SERVER_KEY_FILE.exists() and SERVER_CERT_FILE.exists()):
        names = ("*.lab.test", "lab.test") + INTERNET_NAMES
        with tempfile.TemporaryDirectory(dir=STATE_DIR) as scratch:
            request = Path(scratch) / "server.csr"
            extensions = Path(scratch) / "server.ext"
            extensions.write_text(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                "subjectAltName=%s\n" % ",".join("DNS:" + name for name in names), encoding="utf-8")
            run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(SERVER_KEY_FILE),
                 "-out", str(request), "-subj", "/O=behindproxy lab/CN=*.lab.test"])
            SERVER_KEY_FILE.chmod(0o600)
            run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(CA_CERT_FILE),
                 "-CAkey", str(CA_KEY_FILE), "-set_serial", str(secrets.randbits(63)), "-sha256",
                 "-days", "825", "-extfile", str(extensions), "-out", str(SERVER_CERT_FILE)])
        SERVER_CERT_FILE.chmod(0o644)
    shutil.copyfile(CA_CERT_FILE, PUBLISHED_CA_FILE)
    PUBLISHED_CA_FILE.chmod(0o644)


def private_key_material(directory):
    """Files under directory that look like a private key: they must not be published."""
    markers = (b"PRIVATE KEY BLOCK", b"BEGIN PRIVATE KEY", b"BEGIN RSA PRIVATE KEY")
    found = []
    for path in directory.rglob("*"):
        if path.is_dir() and path.name == "private-keys-v1.d":
            found.append(path)
        elif path.is_file() and path.suffix != ".deb" and any(m in path.read_bytes() for m in markers):
            found.append(path)
    return found


def ensure_apt_repository():
    """The signed apt repository; its builder rebuilds it only when its inputs changed."""
    release = APT_DIR / "dists" / APT_SUITE / "InRelease"
    before = release.stat().st_mtime_ns if release.exists() else None
    started = time.monotonic()
    build_apt_repository()
    if release.stat().st_mtime_ns != before:
        say("lab up: built the apt repository in %.1fs" % (time.monotonic() - started))


def build_apt_repository(*options):
    """Run the repository's builder and publish what it made, never a private key."""
    if not os.access(APT_REPOSITORY_BUILDER, os.X_OK):
        raise LabError("%s is missing or not executable; it builds the lab's apt repository"
                       % APT_REPOSITORY_BUILDER)
    run([str(APT_REPOSITORY_BUILDER), *options, str(APT_DIR)])
    for required in (APT_DIR / "gpg.key", APT_DIR / "dists" / APT_SUITE / "InRelease"):
        if not required.exists():
            raise LabError("%s did not produce %s" % (APT_REPOSITORY_BUILDER, required))
    leaked = private_key_material(APT_DIR)
    if leaked:
        shutil.rmtree(APT_DIR)
        raise LabError("removed the apt repository instead of publishing it: private key material in %s"
                       % ", ".join(str(path) for path in leaked))
    # nginx's workers (www-data) read the repository through a bind mount.
    for path in [APT_DIR, *APT_DIR.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def command_new_apt_key(_arguments):
    """Sign the served repository with a new key, as a vendor replacing an expired one."""
    if not (APT_DIR / "dists" / APT_SUITE / "Release").exists():
        raise LabError("no apt repository in %s: run `lab up` first" % APT_DIR)
    build_apt_repository("--new-key")
    print(APT_DIR / "gpg.key")
    return 0


# ---------------------------------------------------------------- networks and containers

def ensure_network(name, internal, subnet=None):
    existing = docker_inspect("network", name)
    if existing is not None:
        if existing["Internal"] != internal:
            raise LabError("network %s exists with internal=%s, expected internal=%s; run `lab down` first"
                           % (name, existing["Internal"], internal))
        subnets = [config.get("Subnet") for config in (existing.get("IPAM") or {}).get("Config") or []]
        if subnet and subnets != [subnet]:
            raise LabError("network %s exists with subnets %s, expected %s; run `lab down` first"
                           % (name, ", ".join(map(str, subnets)) or "none", subnet))
        return False
    command = ["docker", "network", "create", "--label", LABEL_ROLE + "=network"]
    if internal:
        command.append("--internal")
    if subnet:
        command += ["--subnet", subnet]
    run(command + [name])
    say("lab up: started network %s%s" % (name, " (internal)" if internal else ""))
    return True


def proxy_destinations():
    destinations = list(PROXY_DESTINATIONS)
    mirror_host = urllib.parse.urlsplit(os.environ.get("DEBIAN_MIRROR", "")).hostname
    # squid refuses a dstdomain list in which one entry covers another.
    covered = mirror_host and any(mirror_host == d or (d.startswith(".") and mirror_host.endswith(d))
                                  for d in destinations)
    if mirror_host and not covered:
        destinations.append(mirror_host)
    return " ".join(destinations)


def content_hash(*paths):
    """A hash of files and directory trees: a container whose mounted inputs changed is recreated."""
    digest = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if root.is_dir() else [root]
        for path in files:
            digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def container_specs(images):
    """How each container is created: docker create arguments, extra network attachments,
    and a hash of the mounted files the container reads only when it starts."""
    return {
        INTERNET_CONTAINER: {
            "inputs": content_hash(SERVER_CERT_FILE, SERVER_KEY_FILE, FAKE_GITLAB_DIR, HUB_ACCOUNT_DIR),
            "create": ["--hostname", "internet", "--network", WAN_NETWORK,
                       *[argument for name in INTERNET_NAMES for argument in ("--network-alias", name)],
                       "-v", "%s:/lab/tls:ro" % TLS_DIR,
                       "-v", "%s:/lab/hub-account:ro" % HUB_ACCOUNT_DIR,
                       "-v", "%s:/lab/public:ro" % PUBLIC_DIR,
                       "-v", "%s:/opt/fakegitlab:ro" % FAKE_GITLAB_DIR,
                       images["internet"]],
            "connect": [],
        },
        PROXY_CONTAINER: {
            "inputs": content_hash(BASIC_HTPASSWD_FILE),
            "create": ["--hostname", PROXY_ALIAS, "--network", WAN_NETWORK,
                       "-v", "%s:/lab/secrets/proxy-basic.htpasswd:ro" % BASIC_HTPASSWD_FILE,
                       "-e", "LAB_DESTINATIONS=" + proxy_destinations(),
                       images["proxy"]],
            "connect": [["--alias", PROXY_ALIAS, CORP_NETWORK]],
        },
    }


def spec_hash(spec):
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def ensure_container(name, spec):
    wanted = spec_hash(spec)
    existing = docker_inspect("container", name)
    if existing is not None:
        if existing["Config"]["Labels"].get(LABEL_SPEC) == wanted and existing["State"]["Running"]:
            return False
        # A stopped container may be one that a failed `up` left half-connected:
        # recreating it is as quick as checking it and always complete.
        unchanged = existing["Config"]["Labels"].get(LABEL_SPEC) == wanted
        reason = "it was stopped" if unchanged else "its image, settings or mounted files changed"
        say("lab up: replacing %s (%s)" % (name, reason))
        run(["docker", "rm", "-f", name])
    run(["docker", "create", "--name", name, "--label", LABEL_ROLE + "=container",
         "--label", LABEL_SPEC + "=" + wanted, *spec["create"]])
    for connect_arguments in spec["connect"]:
        run(["docker", "network", "connect", *connect_arguments, name])
    run(["docker", "start", name])
    say("lab up: started %s" % name)
    return True


def wan_address(container):
    document = docker_inspect("container", container)
    if document is None or not document["State"]["Running"]:
        raise LabError("container %s is not running; run `lab up`" % container)
    address = document["NetworkSettings"]["Networks"].get(WAN_NETWORK, {}).get("IPAddress")
    if not address:
        raise LabError("container %s has no address on %s; run `lab down` and `lab up`" % (container, WAN_NETWORK))
    return address


# ---------------------------------------------------------------- service checks

def http_get(address, port, host, path, tls=False, headers=None):
    """GET path from address:port with the given Host (and SNI); returns (status, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=CHECK_TIMEOUT)
    sock = socket.create_connection((address, port), timeout=CHECK_TIMEOUT)
    if tls:
        context = ssl.create_default_context(cafile=str(CA_CERT_FILE))
        sock = context.wrap_socket(sock, server_hostname=host)
    connection.sock = sock
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def basic_authorization():
    token = base64.b64encode(("%s:%s" % (BASIC_USER, basic_password())).encode()).decode()
    return {"Proxy-Authorization": "Basic " + token}


def service_checks():
    """(name, function returning an error text or None) for every service of the lab."""
    internet = wan_address(INTERNET_CONTAINER)
    proxy = wan_address(PROXY_CONTAINER)
    known_content = KNOWN_FILE.read_bytes()
    # name, address, port, Host, path, TLS, request headers, expected status, text the body must hold
    table = [
        ("files.lab.test (http)", internet, 80, "files.lab.test", "/hello.txt", False, {}, 200, known_content),
        ("files.lab.test (https, lab CA)", internet, 443, "files.lab.test", "/lab-ca.crt", True, {}, 200,
         b"BEGIN CERTIFICATE"),
        ("gitlab.lab.test (nginx, https)", internet, 443, "gitlab.lab.test", "/-/health", True, {}, 200, b""),
        ("fake GitLab control port", internet, FAKE_GITLAB_CONTROL_PORT, "gitlab.lab.test", "/state", False, {},
         200, b""),
        ("hub.lab.test catalog (plain 5000)", internet, REGISTRY_PLAIN_PORT, REGISTRY_NAME, "/v2/_catalog", False,
         {}, 200, b"library/busybox"),
        ("hub.lab.test (https)", internet, 443, REGISTRY_NAME, "/v2/", True, {}, 200, b""),
        ("hub.lab.test docker images", internet, REGISTRY_PLAIN_PORT, REGISTRY_NAME, "/v2/library/docker/tags/list",
         False, {}, 200, b'"dind"'),
        ("push.lab.test (https)", internet, 443, PUSH_REGISTRY_NAME, "/v2/", True, {}, 200, b""),
        ("hub-account.lab.test asks for a token", internet, 443, HUB_ACCOUNT_NAME, "/v2/", True, {}, 401,
         b"UNAUTHORIZED"),
        ("git.lab.test", internet, 80, "git.lab.test", GIT_REPOSITORY_PATH + "/info/refs?service=git-upload-pack",
         False, {}, 200, b"refs/heads/main"),
        ("packages.lab.test", internet, 80, "packages.lab.test", "/dists/%s/Release" % APT_SUITE, False, {}, 200,
         b""),
        ("corp-proxy demands credentials", proxy, PROXY_PORT, "files.lab.test", "http://files.lab.test/hello.txt",
         False, {}, 407, b""),
        ("corp-proxy with Basic credentials", proxy, PROXY_PORT, "files.lab.test", "http://files.lab.test/hello.txt",
         False, basic_authorization(), 200, known_content),
    ]

    def check(address, port, host, path, tls, headers, status_wanted, needle):
        status, body = http_get(address, port, host, path, tls=tls, headers=headers)
        if status != status_wanted:
            return "HTTP %d, expected %d" % (status, status_wanted)
        if needle not in body:
            return "answer lacks %r" % needle.decode()
        return None

    return [(row[0], functools.partial(check, *row[1:])) for row in table]


def run_check(check):
    try:
        return check()
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        return "%s: %s" % (type(error).__name__, error)


def stopped_container_error(container):
    """Raise LabError with the container's last log lines when it is no longer running."""
    document = docker_inspect("container", container)
    if document is not None and document["State"]["Running"]:
        return
    logs = run(["docker", "logs", "--tail", "5", container], check=False)
    raise LabError("container %s stopped; its last log lines:\n%s" % (container, (logs.stdout + logs.stderr).strip()))


def wait_until_ready():
    deadline = time.monotonic() + WAIT_SECONDS
    for name, check in service_checks():
        while True:
            failure = run_check(check)
            if failure is None:
                break
            for container in (PROXY_CONTAINER, INTERNET_CONTAINER):
                stopped_container_error(container)
            if time.monotonic() > deadline:
                raise LabError("the lab did not come up within %.0fs: %s: %s (see `docker logs %s`)"
                               % (WAIT_SECONDS, name, failure,
                                  PROXY_CONTAINER if "proxy" in name else INTERNET_CONTAINER))
            time.sleep(0.2)


# ---------------------------------------------------------------- corp-proxy as a fault

def network_addresses(document):
    return {name: settings.get("IPAddress") for name, settings in document["NetworkSettings"]["Networks"].items()}


def command_proxy_stop(_arguments):
    """Stop corp-proxy, as a corporate proxy going down; its addresses are kept for proxy-start."""
    document = docker_inspect("container", PROXY_CONTAINER)
    if document is None or not document["State"]["Running"]:
        raise LabError("%s is not running; run `lab up`" % PROXY_CONTAINER)
    addresses = network_addresses(document)
    STOPPED_PROXY_FILE.write_text(json.dumps(addresses, sort_keys=True) + "\n", encoding="utf-8")
    # squid's shutdown_lifetime is 1 s: it is gone before docker would kill it.
    run(["docker", "stop", "--time", "5", PROXY_CONTAINER])
    say("lab proxy-stop: stopped %s (%s, %s on %s)"
        % (PROXY_CONTAINER, PROXY_ALIAS, addresses.get(CORP_NETWORK), CORP_NETWORK))
    return 0


def command_proxy_start(_arguments):
    """Start corp-proxy again and wait until it answers. Docker gives a restarted container
    its address again unless another container took it meanwhile; clients that resolved
    corp-proxy before (cntlm resolves its upstream once, at its first connection) keep
    the old one, so another address is an error."""
    document = docker_inspect("container", PROXY_CONTAINER)
    if document is None:
        raise LabError("%s does not exist; run `lab up`" % PROXY_CONTAINER)
    if not document["State"]["Running"]:
        run(["docker", "start", PROXY_CONTAINER])
        say("lab proxy-start: started %s" % PROXY_CONTAINER)
    deadline = time.monotonic() + WAIT_SECONDS
    for name, check in service_checks():
        if "corp-proxy" not in name:
            continue
        while True:
            failure = run_check(check)
            if failure is None:
                break
            stopped_container_error(PROXY_CONTAINER)
            if time.monotonic() > deadline:
                raise LabError("corp-proxy did not answer within %.0fs: %s: %s (see `docker logs %s`)"
                               % (WAIT_SECONDS, name, failure, PROXY_CONTAINER))
            time.sleep(0.2)
    if STOPPED_PROXY_FILE.exists():
        before = json.loads(STOPPED_PROXY_FILE.read_text(encoding="utf-8"))
        STOPPED_PROXY_FILE.unlink()
        after = network_addresses(docker_inspect("container", PROXY_CONTAINER))
        if after != before:
            raise LabError("%s came back at other addresses (%s; before: %s): a container started while it was "
                           "stopped took its address, and clients that resolved %s before (cntlm) "
                           "keep the old one; run `lab down` and `lab up`"
                           % (PROXY_CONTAINER, json.dumps(after, sort_keys=True), json.dumps(before, sort_keys=True),
                              PROXY_ALIAS))
    return 0


# ---------------------------------------------------------------- commands

def command_up(_arguments):
    started = time.monotonic()
    base_tag = base_image()
    # The two builds mostly wait for Debian's archive: run them side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(IMAGES)) as builders:
        futures = {role: builders.submit(ensure_image, role, base_tag) for role in IMAGES}
        images = {role: future.result() for role, future in futures.items()}
    ensure_state_dirs()
    ensure_basic_credentials()
    ensure_hub_account()
    ensure_certificates()
    ensure_apt_repository()
    changed = ensure_network(CORP_NETWORK, internal=True, subnet=CORP_SUBNET)
    changed = ensure_network(WAN_NETWORK, internal=False) or changed
    for name, spec in container_specs(images).items():
        changed = ensure_container(name, spec) or changed
    wait_until_ready()
    say("lab up: %s in %.1fs" % ("ready" if changed else "already up, nothing changed",
                                 time.monotonic() - started))
    return 0


def command_down(arguments):
    for name in (PROXY_CONTAINER, INTERNET_CONTAINER):
        if docker_inspect("container", name) is not None:
            run(["docker", "rm", "-f", "-v", name])
            say("lab down: removed container %s" % name)
    for name in (CORP_NETWORK, WAN_NETWORK):
        network = docker_inspect("network", name)
        if network is None:
            continue
        # Containers a scenario forgot to remove would keep the network alive:
        # detach them (they are not removed) so the lab goes away completely.
        for endpoint in network.get("Containers", {}).values():
            say("lab down: warning: disconnecting %s from %s" % (endpoint["Name"], name))
            run(["docker", "network", "disconnect", "-f", name, endpoint["Name"]])
        run(["docker", "network", "rm", name])
        say("lab down: removed network %s" % name)
    if arguments.purge and STATE_DIR.exists():
        shutil.rmtree(STATE_DIR)
        say("lab down: removed %s (secrets, CA, apt repository)" % STATE_DIR)
    return 0


def command_status(_arguments):
    healthy = True
    for name in (CORP_NETWORK, WAN_NETWORK):
        network = docker_inspect("network", name)
        state = "absent" if network is None else "present%s" % (" (internal)" if network["Internal"] else "")
        healthy = healthy and network is not None
        print("network   %-28s %s" % (name, state))
    for name in (PROXY_CONTAINER, INTERNET_CONTAINER):
        container = docker_inspect("container", name)
        state = "absent" if container is None else container["State"]["Status"]
        healthy = healthy and state == "running"
        print("container %-28s %s" % (name, state))
    if not healthy:
        print("lab is down (run `lab up`)")
        return 1
    for name, check in service_checks():
        failure = run_check(check)
        healthy = healthy and failure is None
        print("service   %-36s %s" % (name, failure or "ok"))
    print("lab is up" if healthy else "lab is unhealthy")
    return 0 if healthy else 1


def lab_environment():
    internet = wan_address(INTERNET_CONTAINER)
    proxy = wan_address(PROXY_CONTAINER)
    commit = run(["docker", "exec", "-u", "www-data", INTERNET_CONTAINER, "git", "-C", "/srv/git" + GIT_REPOSITORY_PATH,
                  "rev-parse", "HEAD"]).stdout.strip()
    return {
        "networks": {"corp": CORP_NETWORK, "wan": WAN_NETWORK, "corp_subnet": CORP_SUBNET},
        "containers": {"proxy": PROXY_CONTAINER, "internet": INTERNET_CONTAINER},
        "proxy": {
            "host": PROXY_ALIAS,
            "port": PROXY_PORT,
            "url": "http://%s:%d" % (PROXY_ALIAS, PROXY_PORT),
            "controller_url": "http://%s:%d" % (proxy, PROXY_PORT),
            "destinations": proxy_destinations().split(),
            "tls_ports": [443, FAKE_GITLAB_HTTPS_PORT],
        },
        "basic": {"user": BASIC_USER, "password": basic_password(), "password_file": str(BASIC_PASSWORD_FILE)},
        "ntlm": {"domain": NTLM_DOMAIN, "user": NTLM_USER, "password": NTLM_PASSWORD,
                 "logged_as": "%s\\%s" % (NTLM_DOMAIN, NTLM_USER), "refused_user": NTLM_REFUSED_USER},
        "ca_file": str(CA_CERT_FILE),
        "ca_url": "http://files.lab.test/lab-ca.crt",
        "gitlab": {
            "url": "https://gitlab.lab.test",
            "http_url": "http://gitlab.lab.test",
            "direct_https_url": "https://gitlab.lab.test:%d" % FAKE_GITLAB_HTTPS_PORT,
            "control_url": "http://%s:%d" % (internet, FAKE_GITLAB_CONTROL_PORT),
            # The API as the controller reaches it (no proxy), to set up runners.
            "controller_api_url": "http://%s:%d" % (internet, FAKE_GITLAB_HTTP_PORT),
        },
        "apt": {
            "url": "http://packages.lab.test/",
            "suite": APT_SUITE,
            "component": APT_COMPONENT,
            "key_file": str(APT_DIR / "gpg.key"),
        },
        "registry": {
            "name": REGISTRY_NAME,
            "url": "https://%s" % REGISTRY_NAME,
            "plain_url": "http://%s:%d" % (REGISTRY_NAME, REGISTRY_PLAIN_PORT),
            "controller_url": "http://%s:%d" % (internet, REGISTRY_PLAIN_PORT),
            "image": "%s/library/busybox:latest" % REGISTRY_NAME,
            "docker_dind_image": DOCKER_DIND_IMAGE,
            "docker_cli_image": DOCKER_CLI_IMAGE,
            # The same registry for a client that logs in, as to Docker Hub:
            # anonymous requests get a Bearer challenge.
            "account": {"url": "https://%s" % HUB_ACCOUNT_NAME, "name": HUB_ACCOUNT_NAME, "user": HUB_ACCOUNT_USER,
                        "password": hub_account_password(), "password_file": str(HUB_ACCOUNT_PASSWORD_FILE)},
            "push": {"name": PUSH_REGISTRY_NAME, "url": "https://%s" % PUSH_REGISTRY_NAME,
                     "controller_url": "http://%s:%d" % (internet, PUSH_REGISTRY_PLAIN_PORT)},
        },
        "files": {
            "url": "http://files.lab.test/",
            "test_file_url": "http://files.lab.test/" + KNOWN_FILE.name,
            "test_file_sha256": hashlib.sha256(KNOWN_FILE.read_bytes()).hexdigest(),
        },
        "git": {"url": "http://git.lab.test" + GIT_REPOSITORY_PATH, "branch": "main", "commit": commit},
    }


def command_env(_arguments):
    json.dump(lab_environment(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="lab", description="The behindproxy lab: a corporate network in Docker.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="build, create and start the lab; wait until it answers").set_defaults(
        handler=command_up)
    down = commands.add_parser("down", help="remove the lab's containers and networks")
    down.add_argument("--purge", action="store_true", help="also delete build/lab (secrets, CA, apt repository)")
    down.set_defaults(handler=command_down)
    commands.add_parser("status", help="show networks, containers and service checks").set_defaults(
        handler=command_status)
    commands.add_parser("env", help="print the lab's description as JSON").set_defaults(handler=command_env)
    commands.add_parser("new-apt-key", help="sign the apt repository again with a new key").set_defaults(
        handler=command_new_apt_key)
    commands.add_parser("proxy-stop", help="stop corp-proxy (a network fault)").set_defaults(
        handler=command_proxy_stop)
    commands.add_parser("proxy-start", help="start corp-proxy again and wait until it answers").set_defaults(
        handler=command_proxy_start)
    return parser.parse_args(argv)


@contextlib.contextmanager
def exclusive_lock():
    """Serialise `up` and `down`: two scenarios starting at once must not both build and create."""
    STATE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR.parent / ".lab.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main(argv=None):
    arguments = parse_arguments(argv)
    try:
        if arguments.command in ("up", "down", "new-apt-key", "proxy-stop", "proxy-start"):
            with exclusive_lock():
                return arguments.handler(arguments)
        return arguments.handler(arguments)
    except LabError as error:
        say("lab %s: error: %s" % (arguments.command, error))
        return 1


if __name__ == "__main__":
    sys.exit(main())
