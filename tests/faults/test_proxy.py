"""The fault proxy itself: it forwards, delays, cuts with a reset, and black-holes
without any error at the TCP level; and it stops when closed."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from tests.faults.proxy import FaultProxy

WAIT_S = 5.0


@pytest.fixture
def echo_server() -> Iterator[str]:
    """A TCP echo server on 127.0.0.1, one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        conn.settimeout(0.1)
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()
    thread.join(timeout=WAIT_S)


def dial(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=WAIT_S)


def test_forwards_and_black_holes_without_an_error(
    echo_server: str, fault_proxy: Callable[[str], FaultProxy]
) -> None:
    proxy = fault_proxy(echo_server)
    with dial(proxy) as conn:
        conn.sendall(b"ping")
        assert conn.recv(16) == b"ping"
        proxy.black_hole()
        conn.sendall(b"lost")  # accepted by TCP, never answered
        conn.settimeout(0.5)
        with pytest.raises(TimeoutError):
            conn.recv(16)
    with dial(proxy) as fresh:  # new connections are forwarded again
        fresh.sendall(b"again")
        assert fresh.recv(16) == b"again"
    assert proxy.connections == 2


def test_cut_resets_current_connections_only(
    echo_server: str, fault_proxy: Callable[[str], FaultProxy]
) -> None:
    proxy = fault_proxy(echo_server)
    with dial(proxy) as conn:
        conn.sendall(b"ping")
        assert conn.recv(16) == b"ping"
        proxy.cut()
        with pytest.raises(ConnectionResetError):
            conn.recv(16)
    with dial(proxy) as fresh:
        fresh.sendall(b"again")
        assert fresh.recv(16) == b"again"


def test_delay_holds_bytes_back_until_lifted(
    echo_server: str, fault_proxy: Callable[[str], FaultProxy]
) -> None:
    proxy = fault_proxy(echo_server)
    with dial(proxy) as conn:
        proxy.delay_s = 1.0
        conn.sendall(b"slow")
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(16)  # still held back
        proxy.delay_s = 0.0
        conn.settimeout(WAIT_S)
        assert conn.recv(16) == b"slow"


def test_close_stops_the_proxy(echo_server: str) -> None:
    proxy = FaultProxy(echo_server)
    conn = dial(proxy)
    proxy.close()
    with contextlib.closing(conn), pytest.raises(OSError):
        conn.settimeout(WAIT_S)
        if conn.recv(16) == b"":  # closed by the proxy
            raise ConnectionResetError
    with pytest.raises(OSError):
        dial(proxy)
