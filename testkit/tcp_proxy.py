"""A loopback TCP proxy a test can cut and restore: a real network outage for one client.

Chosen over stopping PostgreSQL (the server is shared by every test run on the machine) and
over a private cluster (initdb and a second server per test cost seconds and need the server
binaries at a known path): the product's real driver, pool and error paths see exactly what a
database restart shows them — established connections reset, new ones refused — and nothing
else on the machine notices.

``cut()`` resets every connection through the proxy and refuses new ones (accepted and reset
at once, as a port with nothing behind it); ``restore()`` lets connections through again.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


def _reset(sock: socket.socket) -> None:
    """Close with RST (not FIN), as a crashed server or a dropped network would.

    ``shutdown(SHUT_RD)`` first: a thread blocked in ``recv`` on the socket holds it open, and
    a bare ``close`` would neither wake that thread nor send anything.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


def _close(sock: socket.socket) -> None:
    """Close with FIN, waking a thread blocked in ``recv`` on it (see ``_reset``)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class TcpProxy:
    """``with TcpProxy("127.0.0.1", 5432) as proxy: connect to proxy.port; proxy.cut(); proxy.restore()``."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.down = False
        self.refused = 0  # connections refused while cut
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def start(self) -> TcpProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            self.down = True
            pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    def restore(self) -> None:
        with self._lock:
            self.down = False

    def stop(self) -> None:
        self.cut()
        _close(self._listener)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        if self.down:
            self.refused += 1
            return _reset(client)
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            return _reset(client)
        pair = (client, upstream)
        with self._lock:
            if self.down:  # cut while connecting
                _reset(client)
                _reset(upstream)
                return None
            self._pairs.add(pair)
        threading.Thread(target=self._pump, args=(client, upstream, pair), daemon=True).start()
        self._pump(upstream, client, pair)
        return None

    def _pump(self, source: socket.socket, sink: socket.socket, pair) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._pairs.discard(pair)
        for sock in pair:
            _close(sock)
