# -*- coding: utf-8 -*-
# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Faults under the modules, made for real where this machine can make them.

The file-editing modules (runner_config, docker_json_config) on a file system
that is full and on one that is read-only (tmpfs mounts), killed with SIGKILL
in the middle of a write, and waiting on a lock another process does not let
go of; runner_register against a GitLab that accepts the connection and never
answers, one that breaks off its answer, one that answers with a web page,
and a proxy that refuses. Each fault must:

- fail the task with a message that names the file or the endpoint and the
  cause;
- leave the file byte-for-byte as it was (same inode): no half-written file;
- leave nothing behind: no temporary file, no lock file, no backup;
- show no secret (the tokens in the file, the proxy's password).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import itertools
import json
import os
import signal
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import tomllib

import pytest

from ansible_collections.behindproxy.gitlab_runner.plugins.module_utils import _gitlab_api, _safe_write
from ansible_collections.behindproxy.gitlab_runner.plugins.modules import docker_json_config, runner_config, runner_register
from test_runner_register import PAT, Lab, fakegitlab
from loopback import stop_listening

# The folder holding ansible_collections/, for a module run in its own Python.
COLLECTIONS = os.path.abspath(runner_config.__file__).rsplit(os.sep + 'ansible_collections' + os.sep, 1)[0]

RUNNER_TOKEN = 'glrt-F4ult-T0ken-kept-secret'
REGISTRY_AUTH = 'c3ZjOkYwdWx0LVJlZ2lzdHJ5LVBhc3N3b3Jk'
PROXY_PASSWORD = 'Pr0xy-F4ult-Passw0rd'

CONFIG_TOML = '''# Managed by hand and by the runner: comments stay.
concurrent = 2
check_interval = 0

[[runners]]
  name = "docker-1"
  url = "https://gitlab.lab.test/"
  id = 7
  token = "%s"
  token_obtained_at = 2026-01-01T00:00:00Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  [runners.docker]
    image = "alpine:3.20"
''' % RUNNER_TOKEN

CLIENT_JSON = json.dumps({'auths': {'registry.lab.test': {'auth': REGISTRY_AUTH}}, 'credsStore': ''}, indent=2) + '\n'

# Edits that make each file grow by far more than a page, so that they cannot fit on a full file system.
BIG_SCRIPT = 'echo %s\n' % ('x' * 8000)

MODULES = {
    'runner_config': (runner_config.main, 'config.toml', CONFIG_TOML,
                      dict(name='docker-1', settings={'pre_get_sources_script': BIG_SCRIPT}), RUNNER_TOKEN),
    'docker_json_config': (docker_json_config.main, 'config.json', CLIENT_JSON,
                           dict(settings={'proxies': {'default': {'noProxy': 'x' * 8000}}}), REGISTRY_AUTH),
}


@pytest.fixture(params=sorted(MODULES))
def subject(request):
    """(main, file name, content, edit args, the secret the file holds) of each file-editing module."""
    return MODULES[request.param]


def listing(directory):
    """Every name in ``directory``, hidden ones included."""
    return sorted(os.listdir(directory))


def assert_untouched(path, content, inode, names):
    """The file as it was, on the same inode, and nothing else left in its directory."""
    assert path.read_text() == content
    assert path.stat().st_ino == inode
    assert listing(path.parent) == names


def assert_no_secret(result, *secrets):
    text = json.dumps(result, default=str)
    for secret in secrets:
        assert secret not in text


@contextlib.contextmanager
def tmpfs(directory, size='256k'):
    """A tmpfs of ``size`` mounted on ``directory`` (this needs root, as the lab does), unmounted afterwards."""
    directory.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s,mode=0755' % size, 'tmpfs', str(directory)],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, 'these tests mount a tmpfs, which needs root: %s' % mounted.stderr
    try:
        yield directory
    finally:
        subprocess.run(['umount', '-l', str(directory)], check=True)


def fill(directory):
    """Write to ``directory`` until its file system has no space left."""
    with open(directory / 'filler', 'wb', buffering=0) as filler:
        with pytest.raises(OSError) as raised:
            while True:
                filler.write(b'\0' * 4096)
        assert raised.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as raised:
        (directory / 'probe').write_bytes(b'\0' * 4096)
    assert raised.value.errno == errno.ENOSPC
    (directory / 'probe').unlink()


# ------------------------------------------------------- full file system

@pytest.mark.parametrize('backup', [False, True], ids=['plain', 'backup'])
def test_a_full_file_system_fails_the_edit_and_leaves_the_file_and_nothing_else(
        tmp_path, run_module, subject, backup):
    main, name, content, edit, secret = subject
    with tmpfs(tmp_path / 'fs') as directory:
        path = directory / name
        path.write_text(content)
        path.chmod(0o600)
        fill(directory)
        inode, names = path.stat().st_ino, listing(directory)

        result, failed, dummy = run_module(main, dict(edit, path=str(path), backup=backup))

        assert failed, result
        assert result['msg'].startswith('%s: ' % path) and 'No space left on device' in result['msg']
        assert_untouched(path, content, inode, names)
        assert_no_secret(result, secret)

        # The second run of a converged host needs no space: it writes nothing.
        (directory / 'filler').unlink()
        result, failed, dummy = run_module(main, dict(edit, path=str(path)))
        assert not failed and result['changed'], result
        fill(directory)
        result, failed, dummy = run_module(main, dict(edit, path=str(path)))
        assert not failed and not result['changed'], result


# --------------------------------------------------- read-only file system

def test_a_read_only_file_system_fails_the_edit_but_not_check_mode_or_a_converged_run(
        tmp_path, run_module, subject):
    main, name, content, edit, secret = subject
    with tmpfs(tmp_path / 'fs') as directory:
        path = directory / name
        path.write_text(content)
        path.chmod(0o600)
        subprocess.run(['mount', '-o', 'remount,ro', str(directory)], check=True)
        inode, names = path.stat().st_ino, listing(directory)

        result, failed, dummy = run_module(main, dict(edit, path=str(path)), check_mode=True)
        assert not failed and result['changed'], result

        result, failed, dummy = run_module(main, dict(edit, path=str(path)))
        assert failed, result
        assert result['msg'].startswith('%s: ' % path) and 'Read-only file system' in result['msg']
        assert_untouched(path, content, inode, names)
        assert_no_secret(result, secret)

        # A file system mounted read-only after the host converged: the play still passes.
        subprocess.run(['mount', '-o', 'remount,rw', str(directory)], check=True)
        result, failed, dummy = run_module(main, dict(edit, path=str(path)))
        assert not failed and result['changed'], result
        subprocess.run(['mount', '-o', 'remount,ro', str(directory)], check=True)
        result, failed, dummy = run_module(main, dict(edit, path=str(path)))
        assert not failed and not result['changed'], result


# ------------------------------------------------- killed at each step of the write

# Where strace kills the module (SIGKILL on entering the syscall, which then never happens), in the order of a
# write: each is the first call of its kind in the module's process. What the file must then be: 'old' or 'new'.
KILL_STEPS = {
    'temp-created': ('write', 'old'),         # the temporary file exists, empty; the lock is held
    'temp-written': ('fsync', 'old'),         # its content is written, not yet synced
    'before-rename': ('rename', 'old'),       # it has its owner and mode; the check before the rename passed
    'after-rename': ('unlink', 'new'),        # renamed into place and read back; the lock file not yet removed
}

DAEMON_JSON = json.dumps({'storage-driver': 'overlay2', 'registry-mirrors': ['http://172.17.0.1:5000']}, indent=2) + '\n'

KILLED = {
    'runner_config': (runner_config, 'config.toml', CONFIG_TOML, dict(name='docker-1', settings={'limit': 4})),
    'docker_json_config-daemon': (docker_json_config, 'daemon.json', DAEMON_JSON,
                                  dict(kind='daemon', settings={'live-restore': True})),
    'docker_json_config-client': (docker_json_config, 'config.json', CLIENT_JSON,
                                  dict(kind='client', settings={'proxies': {'default': {'noProxy': 'docker'}}})),
}


def run_killed(tmp_path, module, args, syscall):
    """Run ``module`` as Ansible does, in its own Python, under strace, which kills it at its first ``syscall``."""
    args_file = tmp_path / 'args.json'
    args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    process = subprocess.run(
        ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'inject=%s:signal=SIGKILL:when=1' % syscall,
         sys.executable, '-m', module.__name__, str(args_file)],
        env=dict(os.environ, PYTHONPATH=COLLECTIONS), capture_output=True, timeout=120, check=False)
    # strace ends as its tracee did: killed, with nothing printed.
    assert process.returncode == -signal.SIGKILL, (process.returncode, process.stdout, process.stderr)
    assert process.stdout == b''


@pytest.mark.parametrize('step', sorted(KILL_STEPS))
@pytest.mark.parametrize('which', sorted(KILLED))
def test_a_run_killed_at_each_step_of_its_write_leaves_the_old_or_the_new_file(tmp_path, run_module, which, step):
    module, name, content, edit = KILLED[which]
    syscall, expected = KILL_STEPS[step]
    directory = tmp_path / 'etc'
    directory.mkdir()
    path = directory / name
    path.write_text(content)
    path.chmod(0o600)
    names = listing(directory)
    result, failed, dummy = run_module(module.main, dict(edit, path=str(path)), check_mode=True)
    assert not failed and result['changed'], result

    run_killed(tmp_path, module, dict(edit, path=str(path)), syscall)

    if expected == 'old':
        assert path.read_text() == content
    else:
        assert path.read_text() != content
        result, failed, dummy = run_module(module.main, dict(edit, path=str(path)), check_mode=True)
        assert not failed and not result['changed'], result
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(listing(directory)) == len(names) + {'temp-created': 2, 'temp-written': 2, 'before-rename': 2,
                                                    'after-rename': 1}[step]
    for entry in set(listing(directory)) - set(names):
        assert stat.S_IMODE((directory / entry).stat().st_mode) == 0o600

    # The kernel let go of the dead run's lock: the next run is not blocked, completes the edit, and
    # clears what the dead run left: no lock file, and no temporary copy of the file and its secrets.
    # Names that are not the module's temporary files of this file stay.
    decoys = ['.%s.notes.tmp' % name, '.%s.abcd1234.tmp.bak' % name, '.other.abcd1234.tmp', '%s.abcd1234.tmp' % name]
    for decoy in decoys:
        (directory / decoy).write_text('kept')
    started = time.monotonic()
    result, failed, dummy = run_module(module.main, dict(edit, path=str(path)))
    assert not failed and result['changed'] == (expected == 'old'), result
    assert time.monotonic() - started < 30
    assert listing(directory) == sorted(names + decoys)
    result, failed, dummy = run_module(module.main, dict(edit, path=str(path)))
    assert not failed and not result['changed'], result


@pytest.mark.parametrize('step', sorted(KILL_STEPS))
def test_runner_register_killed_at_each_step_of_its_write_leaves_the_old_or_the_new_file(
        tmp_path, run_module, monkeypatch, step):
    syscall, expected = KILL_STEPS[step]
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
    lab = Lab(tmp_path)
    try:
        dummy, token = lab.new_runner()
        lab.config.write_text(CONFIG_TOML)
        lab.config.chmod(0o600)
        # A saved system id: the first write of the run is config.toml's temporary file.
        lab.system_id_file.write_text('s_0123456789ab')
        names = listing(lab.config.parent)
        args = dict(path=str(lab.config), name='docker-2', url=lab.url, token=token)

        run_killed(tmp_path, runner_register, args, syscall)

        entries = [runner['name'] for runner in tomllib.loads(lab.config.read_text())['runners']]
        assert entries == (['docker-1'] if expected == 'old' else ['docker-1', 'docker-2'])
        assert lab.config.read_text().startswith(CONFIG_TOML)
        result, failed, dummy = run_module(runner_register.main, args)
        assert not failed and result['changed'] == (expected == 'old'), result
        assert listing(lab.config.parent) == names
        assert lab.entry('docker-2')['token'] == token
        assert len(lab.gitlab.runners) == 1
    finally:
        lab.close()


# ------------------------------------------------------ a lock held too long

def test_a_lock_held_too_long_fails_naming_the_lock_and_leaves_the_file(tmp_path, run_module, subject, monkeypatch):
    main, name, content, edit, secret = subject
    monkeypatch.setattr(_safe_write, 'LOCK_TIMEOUT', 1)
    path = tmp_path / name
    path.write_text(content)
    path.chmod(0o600)
    lock = _safe_write.lock_path(str(path))
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import fcntl, sys, time\nf = open(sys.argv[1], "a")\nfcntl.flock(f, fcntl.LOCK_EX)\n'
         'print("held", flush=True)\ntime.sleep(600)\n', lock], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b'held\n'
        inode, names = path.stat().st_ino, listing(tmp_path)
        started = time.monotonic()
        result, failed, dummy = run_module(main, dict(edit, path=str(path)))
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.communicate()
    assert failed, result
    assert result['msg'] == '%s: another process has held the lock %s for more than 1 seconds' % (path, lock)
    assert 1 <= waited < 10
    assert_untouched(path, content, inode, names)
    # Let go, the lock is free for the next run.
    with open(lock) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


# ------------------------------------------- GitLab and the proxy misbehaving

class MisbehavingPeer:
    """A TCP server on loopback that reads each request's head and answers with ``behaviour(connection, head)``."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.heads = []
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.url = 'http://127.0.0.1:%d/' % self.port
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, dummy = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection):
        with connection:
            head = b''
            while b'\r\n\r\n' not in head:
                data = connection.recv(65536)
                if not data:
                    return
                head += data
            self.heads.append(head.split(b'\r\n', 1)[0].decode('latin-1'))
            # The body is read before answering: a socket closed with unread
            # data sends a reset, which the client may see before the answer.
            header_block, body = head.split(b'\r\n\r\n', 1)
            length = re.search(rb'(?im)^content-length:\s*(\d+)\s*$', header_block)
            while length and len(body) < int(length.group(1)):
                data = connection.recv(65536)
                if not data:
                    return
                body += data
            self.behaviour(self, connection, head)

    def close(self):
        self.closing.set()
        stop_listening(self.listener, self.thread)


@pytest.fixture
def peer():
    peers = []

    def start(behaviour):
        peers.append(MisbehavingPeer(behaviour))
        return peers[-1]
    yield start
    for running in peers:
        running.close()


@pytest.fixture
def register(tmp_path, run_module, monkeypatch):
    """register(**args) -> (result, failed, config.toml's directory listing before, after)."""
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(lambda seconds: None))
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / 'gitlab-runner'
    directory.mkdir()
    path = directory / 'config.toml'
    path.write_text(CONFIG_TOML)
    path.chmod(0o600)
    (directory / '.runner_system_id').write_text('s_0123456789ab')

    def run(**args):
        names = listing(directory)
        result, failed, dummy = run_module(runner_register.main, dict(dict(path=str(path), name='docker-1'), **args))
        assert path.read_text() == CONFIG_TOML
        assert listing(directory) == names
        assert_no_secret(result, RUNNER_TOKEN, 'glrt-inventory-token', 'GR1348941-inventory-token', PROXY_PASSWORD)
        return result, failed
    return run


def answer(status, body, content_type='application/json', length=None):
    data = body.encode()
    return ('HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n'
            % (status, content_type, len(data) if length is None else length)).encode() + data


def test_a_gitlab_that_never_answers_fails_after_the_timeout_naming_the_endpoint(register, peer):
    silent = peer(lambda server, connection, head: server.closing.wait(60))
    started = time.monotonic()
    result, failed = register(url=silent.url, token='glrt-inventory-token', timeout=1)
    assert failed, result
    assert time.monotonic() - started < 10
    assert result['msg'] == ('POST /api/v4/runners/verify: no answer from %s (directly): timed out'
                             % silent.url.rstrip('/'))
    assert silent.heads == ['POST /api/v4/runners/verify HTTP/1.1']


def test_an_answer_broken_off_fails_naming_the_endpoint(register, peer):
    def broken_off(server, connection, head):
        connection.sendall(answer('200 OK', '{"id": 7, "tok', length=200))
    broken = peer(broken_off)
    result, failed = register(url=broken.url, token='glrt-inventory-token')
    assert failed, result
    assert result['msg'].startswith('POST /api/v4/runners/verify: no answer from %s (directly): '
                                    % broken.url.rstrip('/'))
    assert 'IncompleteRead' in result['msg'] or 'incomplete' in result['msg'].lower()


@pytest.mark.parametrize('status, args, expected', [
    ('200 OK', dict(token='glrt-inventory-token'),
     'POST /api/v4/runners/verify answered 200 OK without a runner id (verifying the token option)'),
    ('201 Created', dict(registration_token='GR1348941-inventory-token'),
     'POST /api/v4/runners answered 201 Created without a runner id and token'),
], ids=['verify', 'legacy-register'])
def test_a_web_page_instead_of_gitlabs_answer_fails_and_says_what_came(register, peer, status, args, expected):
    page = '<html><body>Please log in to the Internet</body></html>'
    portal = peer(lambda server, connection, head: connection.sendall(answer(status, page, 'text/html')))
    result, failed = register(url=portal.url, **args)
    assert failed, result
    assert result['msg'] == (
        "%s; the answer is not JSON (Content-Type text/html: '%s'): something between this host and GitLab, "
        "such as a proxy or a login page, answered in its place" % (expected, page))
    assert len(portal.heads) == 1


def test_a_proxy_that_refuses_the_tunnel_fails_naming_it_without_its_password(register, peer):
    def refuse(server, connection, head):
        connection.sendall(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM\r\n'
                           b'Content-Length: 0\r\n\r\n')
    proxy = peer(refuse)
    result, failed = register(url='https://gitlab.lab.test/', token='glrt-inventory-token',
                              proxy='http://svc-runner:%s@127.0.0.1:%d' % (PROXY_PASSWORD, proxy.port))
    assert failed, result
    assert result['msg'] == ('POST /api/v4/runners/verify: no answer from https://gitlab.lab.test '
                             '(through proxy http://svc-runner:********@127.0.0.1:%d): '
                             'Tunnel connection failed: 407 Proxy Authentication Required' % proxy.port)
    assert proxy.heads == ['CONNECT gitlab.lab.test:443 HTTP/1.0']


def test_a_proxy_that_refuses_a_plain_request_fails_with_its_status(register, peer):
    def refuse(server, connection, head):
        connection.sendall(answer('407 Proxy Authentication Required', '<html>access denied</html>', 'text/html'))
    proxy = peer(refuse)
    result, failed = register(url='http://gitlab.lab.test/', token='glrt-inventory-token',
                              proxy='http://svc-runner:%s@127.0.0.1:%d' % (PROXY_PASSWORD, proxy.port))
    assert failed, result
    assert 'POST /api/v4/runners/verify' in result['msg'] and '407' in result['msg']
    assert proxy.heads == ['POST http://gitlab.lab.test/api/v4/runners/verify HTTP/1.1']


def test_a_proxy_that_is_down_fails_naming_it_without_its_password(register):
    with socket.create_server(('127.0.0.1', 0)) as closed:
        port = closed.getsockname()[1]
    result, failed = register(url='https://gitlab.lab.test/', token='glrt-inventory-token',
                              proxy='http://svc-runner:%s@127.0.0.1:%d' % (PROXY_PASSWORD, port))
    assert failed, result
    assert result['msg'] == ('POST /api/v4/runners/verify: no answer from https://gitlab.lab.test '
                             '(through proxy http://svc-runner:********@127.0.0.1:%d): '
                             '[Errno 111] Connection refused' % port)


# --------------------------------------------------------------- GitLab storms

STORM_STATUSES = (429, 500, 502, 503, 504)
STORM_MODES = ('reset-time', 'retry-after', 'none', 'invalid-reset-time')


def test_ten_runners_are_registered_through_429_and_5xx_storms_each_once(tmp_path, run_module, monkeypatch):
    waits = []
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(waits.append))
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
    lab = Lab(tmp_path)
    # Two API requests in three are refused, each with the next status and header of the storm: every
    # call of a registration (create, verify, read the settings) meets it, never more than twice running.
    numbers = itertools.count()
    refused = collections.Counter()

    def storm(_route=None):
        number = next(numbers)
        if number % 3 == 2:
            return None
        status = STORM_STATUSES[number % len(STORM_STATUSES)]
        refused[status] += 1
        return status, fakegitlab.rate_limit_headers(STORM_MODES[number % len(STORM_MODES)], 2, time.time())
    lab.gitlab.take_rate_limit = storm
    names = ['storm-%d' % number for number in range(10)]
    results = []
    try:
        for round_number in range(2):
            for name in names:
                before = len(waits)
                result, failed, dummy = run_module(runner_register.main, dict(
                    path=str(lab.config), name=name, url=lab.url, api_token=PAT, runner_type='instance_type',
                    tags=['storm'], max_wait=150))
                results.append(result)
                assert not failed, result
                assert result['action'] == ('created' if round_number == 0 else 'none'), result
                assert result['changed'] == (round_number == 0)
                assert 0 < sum(waits[before:]) <= 150
    finally:
        lab.close()
    assert set(refused) == set(STORM_STATUSES)
    assert sum(refused.values()) >= 2 * len(results)
    # Each runner created once on GitLab, and config.toml holds each with the id GitLab gave it.
    server = [(runner['description'], runner_id) for runner_id, runner in lab.gitlab.runners.items()]
    assert sorted(description for description, dummy in server) == sorted(names)
    assert sorted((lab.entry(name)['name'], lab.entry(name)['id']) for name in names) == sorted(server)
    tokens = [runner['token'] for runner in lab.gitlab.runners.values()] + [PAT]
    for result in results:
        text = json.dumps(result, default=str)
        assert not any(token in text for token in tokens)


@pytest.mark.parametrize('status', [429, 502, 503])
def test_a_storm_longer_than_the_attempts_fails_naming_the_endpoint_and_status(
        tmp_path, run_module, monkeypatch, status):
    monkeypatch.setattr(_gitlab_api.GitLabClient, 'default_sleep', staticmethod(lambda seconds: None))
    for name in ('HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'NO_PROXY', 'no_proxy'):
        monkeypatch.delenv(name, raising=False)
    lab = Lab(tmp_path)
    try:
        lab.config.write_text(CONFIG_TOML)
        names = listing(lab.config.parent)
        lab.gitlab.set_rate_limit({'count': 5, 'mode': 'retry-after', 'seconds': 1, 'status': status})
        result, failed, dummy = run_module(runner_register.main, dict(
            path=str(lab.config), name='docker-2', url=lab.url, api_token=PAT, runner_type='instance_type'))
    finally:
        lab.close()
    assert failed, result
    assert result['msg'].startswith('gave up due to rate limit after 5 attempts: the last one POST /api/v4/user/runners '
                                    'answered %d' % status)
    assert lab.gitlab.runners == {}
    # config.toml as it was; only the system id the runner will use was saved, and that is a change.
    assert lab.config.read_text() == CONFIG_TOML
    assert listing(lab.config.parent) == sorted(names + ['.runner_system_id']) and result['changed']
    assert PAT not in json.dumps(result)
