"""Start and stop real `tribe` processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TribeProcess:
    """A `tribe` subcommand running in its own process, its output in a file."""

    def __init__(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.log_path = log_path
        self.env = {**os.environ, "TRIBE_LOG_FORMAT": "json", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TribeProcess:
        out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tribe", *self.args], stdout=out, stderr=subprocess.STDOUT, env=self.env
        )
        return self

    def kill(self) -> None:
        """kill -9: no shutdown handler runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


# These servers take load from one address and a few users, far beyond what the rate limits allow
# a person: their budgets are out of reach (tests/e2e/test_limits.py tests the limits themselves).
UNLIMITED = {
    f"TRIBE_RATE_LIMIT_{budget}": "1000000/minute" for budget in ("READS", "WRITES", "LOGIN_IP", "LOGIN_EMAIL")
}


# The tests run one broker. Production asks for 3 replicas and min.insync.replicas 2; one broker
# can never hold more than one copy (Tansu accepts 3 and lists its one node three times, which
# proves nothing), so the tests ask for 1 and 1.
ONE_BROKER = {"TRIBE_KAFKA_REPLICATION_FACTOR": "1", "TRIBE_KAFKA_MIN_INSYNC_REPLICAS": "1"}


class Server(TribeProcess):
    def __init__(self, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            ["serve", "--port", str(self.port), "--data-dir", str(data_dir), *extra],
            data_dir.parent / f"serve-{self.port}.log",
            {**UNLIMITED, **ONE_BROKER, **(env or {})},
        )

    def start(self) -> Server:
        super().start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"tribe serve exited early:\n{self.output()}")
            try:
                urllib.request.urlopen(f"{self.url}/api/tags", timeout=1)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError(f"tribe serve did not answer within 30 s:\n{self.output()}")


@contextmanager
def running_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = Server(data_dir, *extra, env=env).start()
    try:
        yield server
    finally:
        server.stop()


async def register_and_publish(url: str, name: str) -> tuple[str, str]:
    """A new user `name` and an article of theirs: (token, slug)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{url}/api/users",
            json={"user": {"username": name, "email": f"{name}@example.com", "password": "long-enough-pw"}},
        ) as r:
            assert r.status == 201, await r.text()
            token = (await r.json())["user"]["token"]
        async with http.post(
            f"{url}/api/articles",
            json={"article": {"title": f"{name} article", "description": "d", "body": "b"}},
            headers={"Authorization": f"Token {token}"},
        ) as r:
            assert r.status == 201, await r.text()
            return token, (await r.json())["article"]["slug"]
