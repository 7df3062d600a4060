"""A TCP forwarder on 127.0.0.1 in front of the session's PostgreSQL, which a test can cut and restore: the
state database "goes away" for this client only (open connections dropped, new ones closed at once), as a
lost network or a stopped server looks from the worker, while the server itself stays up for the other tests.
(pg_terminate_backend would only end the open sessions: the next connection would go through.)"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import URL

from tests.state.postgres import Postgres


class Forwarder:
    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self.open: set[socket.socket] = set()
        self.guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database: URL) -> URL:
        return database.set(port=self.port)

    def cut(self) -> None:
        """Drop every forwarded connection and refuse new ones (each is closed as soon as it is accepted)."""
        self.cut_off.set()
        with self.guard:
            for end in self.open:
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self.open.clear()

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.cut_off.is_set():
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            with self.guard:
                self.open.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for end in (source, target):  # the other direction's pump wakes up and ends too
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
            with self.guard:
                self.open.discard(end)


@contextmanager
def forwarding(server: Postgres) -> Iterator[Forwarder]:
    forwarder = Forwarder(server.port)
    try:
        yield forwarder
    finally:
        forwarder.close()
