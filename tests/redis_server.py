"""A real redis-server for tests (Debian's package), on a free loopback port, in a directory of the test's own.

No redis-server is a failure, not a skip: scripts/debian-packages installs it before the tests run.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.kafka_broker import free_port

NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
"""Nothing written to disk but the server's log."""
EVERY_WRITE_FSYNCED = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")
"""The key store's production settings (docs/privacy.md): each write is in the AOF on disk before its reply."""


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process; `start` again after `stop` or `kill` brings it back on the same port and files."""

    def __init__(self, directory: Path, options: Sequence[str] = NO_PERSISTENCE) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: scripts/debian-packages installs it (Debian package redis-server)"
            )
        self.binary = binary
        self.directory = directory
        self.options = list(options)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.log_path = directory / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as output:
            args = ["--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory), *self.options]
            self.process = subprocess.Popen([self.binary, *args], stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _answers_ping(self.port):
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Shut down as an operator does (SIGTERM: the server may write its files on the way out)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Die at once (SIGKILL): only what the server had already written to disk survives."""
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(how)
            self.process.wait(timeout=10)
