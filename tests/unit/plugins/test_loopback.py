# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tests' loopback servers stop for good: no thread is left in accept() to take the next server's connections."""

from __future__ import annotations

import socket
import threading
import time

from loopback import stop_listening


def test_the_thread_in_accept_ends_before_the_socket_is_closed():
    listener = socket.create_server(('127.0.0.1', 0))
    ended = threading.Event()

    def accept():
        try:
            listener.accept()
        except OSError:
            ended.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    time.sleep(0.3)  # the thread is blocked in accept() by now
    stop_listening(listener, thread, timeout=5)
    assert ended.is_set() and not thread.is_alive()
    assert listener.fileno() == -1


def test_a_listener_already_closed_is_no_error():
    listener = socket.create_server(('127.0.0.1', 0))
    thread = threading.Thread(target=lambda: None)
    thread.start()
    listener.close()
    stop_listening(listener, thread, timeout=5)
    assert not thread.is_alive()
