# Copyright: (c) 2026, behindproxy developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stopping the tests' loopback servers (a listening socket and a thread in accept())."""

from __future__ import annotations

import socket


def stop_listening(listener, thread, timeout=10):
    """Wake the thread blocked in ``listener.accept()``, wait for it to end, then close the socket.

    Closing the socket alone leaves the thread in accept(), or about to enter
    it with the socket's old descriptor number. The next test's server may
    get that number: the old thread then takes its connections, and the new
    server, woken for a connection already taken, waits in accept() for
    ever (seen under load in `make test`: a hung repository_key test).
    shutdown() makes Linux return accept() with an error at once.
    """
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    thread.join(timeout)
    listener.close()
