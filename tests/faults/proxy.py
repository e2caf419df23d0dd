"""A TCP proxy on 127.0.0.1 for fault tests: forward, delay, cut, black-hole.

Threads and stdlib sockets. Every socket has a timeout and every loop checks the
stop flag, so ``close()`` (called by the fixture's teardown) ends it all."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

_POLL_S = 0.1


class FaultProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``; the faults apply to what flows
    from the moment they are set.

    - ``delay_s``: each chunk going either way waits this long first (in order).
    - ``cut()``: close every current connection with a reset; new ones are forwarded.
    - ``black_hole()``: current connections stay open but every byte either way is
      dropped, so nothing fails at the TCP level; new connections are forwarded.
    """

    def __init__(self, upstream: str, port: int = 0) -> None:
        host, _, upstream_port = upstream.rpartition(":")
        self._upstream = (host, int(upstream_port))
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(_POLL_S)
        self.port = int(self._listener.getsockname()[1])
        self.delay_s = 0.0
        self.connections = 0
        self._lock = threading.Lock()
        self._open: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, fn: object, *args: object) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            holed = threading.Event()
            for s in (client, server):
                s.settimeout(_POLL_S)
            with self._lock:
                self.connections += 1
                self._open.append((client, server, holed))
            self._spawn(self._pump, client, server, holed)
            self._spawn(self._pump, server, client, holed)

    def _pump(self, src: socket.socket, dst: socket.socket, holed: threading.Event) -> None:
        try:
            while not self._stop.is_set():
                try:
                    chunk = src.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                if holed.is_set():
                    continue  # dropped: the peer never hears of it
                if self.delay_s:
                    time.sleep(self.delay_s)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            if not holed.is_set() or self._stop.is_set():
                _close(src, dst)

    def cut(self) -> None:
        """Reset every current connection (RST, not FIN)."""
        with self._lock:
            current, self._open = self._open, []
        for client, server, _ in current:
            for s in (client, server):
                with contextlib.suppress(OSError):
                    # SO_LINGER 0: close sends RST.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            _close(client, server)

    def black_hole(self) -> None:
        """Drop every byte of the current connections, keeping them open."""
        with self._lock:
            current, self._open = self._open, []
        for _, _, holed in current:
            holed.set()
        self._held = current  # kept open (and referenced) until close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            current, self._open = self._open, []
        for client, server, _ in [*current, *getattr(self, "_held", [])]:
            _close(client, server)
        for thread in self._threads:
            thread.join(timeout=2)


def _close(*sockets: socket.socket) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.close()
