"""`tribe worker` processes for tests on a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from events.adapters.kafka_log import KafkaOptions
from tests.e2e.server import ONE_BROKER, TribeProcess, free_port

ONE_BROKER_OPTIONS = KafkaOptions(delivery_timeout=5.0, replication_factor=1, min_insync_replicas=1)

# Tansu admits a group member after about half the session timeout: keep it short in tests.
WORKER_ENV = {"TRIBE_KAFKA_SESSION_TIMEOUT": "6", **ONE_BROKER}


class ModuleProcess(TribeProcess):
    """A TribeProcess that runs `python -m MODULE ARGS` instead of `python -m tribe ARGS`."""

    def __init__(self, module: str, args: Sequence[str], log_path: Path, env: dict[str, str]) -> None:
        super().__init__(args, log_path, env)
        self.module = module

    def start(self) -> ModuleProcess:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args], stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        return self


def worker_process(
    log_url: str,
    data_dir: Path,
    log_path: Path,
    group: str = "tribestream-projections",
    *,
    engine: str = "kafka",
    wrapper: Sequence[str] = (),
) -> TribeProcess:
    """`tribe worker` with this engine on a test broker; with `wrapper` (module, arguments), that module's worker.

    Each gets an HTTP port of its own (`env["TRIBE_WORKER_PORT"]`): tests run several workers on this host.
    """
    env = {**WORKER_ENV, "TRIBE_WORKER_GROUP": group, "TRIBE_WORKER_ENGINE": engine,
           "TRIBE_LOG": log_url, "TRIBE_DATA_DIR": str(data_dir), "TRIBE_WORKER_PORT": str(free_port())}
    if wrapper:
        return ModuleProcess(wrapper[0], wrapper[1:], log_path, env)
    return TribeProcess(["worker"], log_path, env)


@contextmanager
def running_worker(
    log_url: str, data_dir: Path, log_path: Path, env: dict[str, str] | None = None, *, engine: str = "kafka"
) -> Iterator[TribeProcess]:
    worker = worker_process(log_url, data_dir, log_path, engine=engine)
    worker.env.update(env or {})
    worker.start()
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
    login = {"user": {"email": user["email"], "password": user["password"]}}
    while _post(f"{server_url}/api/users/login", login) != 200:
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
