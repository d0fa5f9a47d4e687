"""A loopback TCP relay that records what the client sends and can cut connections.

Put it between an IMAP client and Dovecot to see the exact commands on the wire
(e.g. "an idle sync sends no FETCH") and to drop connections mid-session, without
touching the client's code.
"""

from __future__ import annotations

import re
import socket
import threading

_TAGGED = re.compile(rb"^[A-Za-z0-9]+ (UID [A-Z]+|[A-Z]+)", re.MULTILINE)


class Wiretap:
    """Relays 127.0.0.1:<port> to `target`; `commands()` lists the tagged IMAP commands sent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sent = bytearray()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept_loop, name="wiretap", daemon=True).start()

    @property
    def port(self) -> int:
        return self._listener.getsockname()[1]

    def commands(self) -> list[str]:
        """Tagged commands seen so far, e.g. ["CAPABILITY", "LOGIN", "UID SEARCH", "UID FETCH"]."""
        with self._lock:
            data = bytes(self._sent)
        return [m.group(1).decode() for m in _TAGGED.finditer(data)]

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()

    def cut_connections(self) -> None:
        """Drop every relayed connection, as a NAT box or a server restart would."""
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            _close(s)

    def close(self) -> None:
        self.cut_connections()
        _close(self._listener)

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if record:
                    with self._lock:
                        self._sent += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
