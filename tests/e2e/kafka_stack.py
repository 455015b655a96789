"""`tribe worker` processes for tests on a real broker."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.e2e.server import TribeProcess

# Tansu admits a group member after about half the session timeout: keep it short in tests.
WORKER_ENV = {"TRIBE_KAFKA_SESSION_TIMEOUT": "6"}


def worker_process(log_url: str, data_dir: Path, log_path: Path, group: str = "tribestream-projections") -> TribeProcess:
    env = {**WORKER_ENV, "TRIBE_WORKER_GROUP": group}
    return TribeProcess(["worker", "--log", log_url, "--data-dir", str(data_dir)], log_path, env)


@contextmanager
def running_worker(log_url: str, data_dir: Path, log_path: Path) -> Iterator[TribeProcess]:
    worker = worker_process(log_url, data_dir, log_path).start()
    try:
        yield worker
    finally:
        worker.stop()


def wait_until_projecting(server_url: str, timeout: float = 60.0) -> None:
    """Register a user and wait until it can log in: a worker has joined its group and folds the log."""
    name = "warmup" + uuid.uuid4().hex[:8]
    user = {"username": name, "email": f"{name}@example.com", "password": "long-enough-pw"}
    status = _post(f"{server_url}/api/users", {"user": user})
    assert status in (201, 202), status
    deadline = time.monotonic() + timeout
    while _post(f"{server_url}/api/users/login", {"user": {"email": user["email"], "password": user["password"]}}) != 200:
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker projected a registration within {timeout} s")
        time.sleep(0.2)


def _post(url: str, body: dict[str, object]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
