"""The fault tests' TCP proxy: it forwards, a cut refuses new connections and resets open ones,
and a restore listens on the same port again (checked against a loopback echo server)."""

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.tcp_proxy import TcpProxy


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(1024):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def round_trip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        return sock.recv(1024)


def test_cut_refuses_and_resets_and_restore_serves_the_same_port(echo_port: int) -> None:
    with TcpProxy(echo_port) as proxy:
        assert round_trip(proxy.port, b"before") == b"before"
        held = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        held.sendall(b"x")
        assert held.recv(1) == b"x"

        proxy.cut()
        assert proxy.is_cut
        with pytest.raises(ConnectionRefusedError):
            round_trip(proxy.port, b"during")
        with pytest.raises(OSError):
            held.sendall(b"y")
            if not held.recv(1):
                raise ConnectionResetError("closed by the cut")
        held.close()

        port = proxy.port
        proxy.restore()
        assert proxy.port == port and not proxy.is_cut
        assert round_trip(proxy.port, b"after") == b"after"
