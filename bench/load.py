"""The load generator: a separate process that drives one HTTP server on loopback and measures it.

`python -m bench.load SPEC.json` reads a spec, runs it, and prints one JSON object. It speaks
minimal HTTP/1.1 over keep-alive asyncio connections with pre-built request bytes (much
cheaper per request than a full client, so on a 2-core machine the generator is not what
limits the server). Two modes:

- closed: `concurrency` connections each send a request as soon as the previous answer is
  in, for `duration` seconds: the server's maximum sustained rate;
- open: requests are due at a fixed `rate`, whatever the server does; a request's latency
  is measured from when it was due, so a server that falls behind shows it (no coordinated
  omission).

With `freshness`, every answer's `X-Tribe-Position` is sent back, on other connections, as
`X-Tribe-After` on a read: the time from the write's answer to the read's answer is how long
the event took to become visible. Every other sample reads without the header instead, under
the same load, as that figure's baseline.

Every loop is bounded by `duration` (+ a drain limit); only loopback hosts are accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

DRAIN_SECONDS = 10.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def encode(self, host: str, port: int, extra: dict[str, str] | None = None) -> bytes:
        body = self.body.encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        for k, v in {**self.headers, **(extra or {})}.items():
            lines.append(f"{k}: {v}")
        if body or self.method in ("POST", "PUT"):
            lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raise RuntimeError("chunked responses are not supported by the load generator")
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body

    def close(self) -> None:
        self.writer.close()


def percentiles(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"n": 0}
    s = sorted(samples)

    def at(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))]

    return {
        "n": len(s),
        "p50_ms": at(0.50) * 1000,
        "p90_ms": at(0.90) * 1000,
        "p99_ms": at(0.99) * 1000,
        "max_ms": s[-1] * 1000,
        "mean_ms": sum(s) / len(s) * 1000,
    }


class Run:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.host = spec.get("host", "127.0.0.1")
        if not ipaddress.ip_address(self.host).is_loopback:
            raise SystemExit("the load generator only targets loopback addresses")
        self.port = int(spec["port"])
        self.duration = float(spec["duration"])
        self.warmup = float(spec.get("warmup", 1.0))
        self.requests = [Request(**r).encode(self.host, self.port) for r in spec["requests"]]
        self.fresh = spec.get("freshness")
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.completed = 0
        self.errors = 0
        self.fresh_after: list[float] = []
        self.fresh_plain: list[float] = []
        self.fresh_failed = 0
        self._next = 0
        self._samples = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def next_request(self) -> bytes:
        data = self.requests[self._next % len(self.requests)]
        self._next += 1
        return data

    def record(self, started: float, finished: float, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 400:
            self.errors += 1
        if started >= self.t_measure and started < self.t_end:
            self.completed += 1
            self.latencies.append(finished - started)

    async def closed(self, concurrency: int) -> None:
        async def worker() -> None:
            conn = await Connection.open(self.host, self.port)
            try:
                while time.perf_counter() < self.t_end:
                    started = time.perf_counter()
                    status, headers, _ = await conn.send(self.next_request())
                    finished = time.perf_counter()
                    self.record(started, finished, status)
                    self.after_answer(headers, finished)
            finally:
                conn.close()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def open_loop(self, rate: float, max_connections: int) -> None:
        idle: list[Connection] = []
        opened = 0
        available = asyncio.Condition()

        async def one(due: float, data: bytes) -> None:
            nonlocal opened
            async with available:
                while not idle and opened >= max_connections:
                    await available.wait()
                if idle:
                    conn = idle.pop()
                else:
                    opened += 1
                    conn = None
            if conn is None:
                conn = await Connection.open(self.host, self.port)
            try:
                status, headers, _ = await conn.send(data)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.errors += 1
                conn.close()
                async with available:
                    opened -= 1
                    available.notify()
                return
            finished = time.perf_counter()
            self.record(due, finished, status)
            self.after_answer(headers, finished)
            async with available:
                idle.append(conn)
                available.notify()

        interval = 1.0 / rate
        due = self.t_start
        pending: set[asyncio.Task[None]] = set()
        while due < self.t_end:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            # Send everything that is due (after a late wake-up, several at once).
            now = time.perf_counter()
            while due <= now and due < self.t_end:
                task = asyncio.create_task(one(due, self.next_request()))
                pending.add(task)
                task.add_done_callback(pending.discard)
                due += interval
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        for conn in idle:
            conn.close()

    # -- freshness -----------------------------------------------------------------------

    def after_answer(self, headers: dict[str, str], answered: float) -> None:
        if not self.fresh or answered < self.t_measure or answered >= self.t_end:
            return
        self._samples += 1
        if self._samples % int(self.fresh.get("every", 1)):
            return
        token = headers.get("x-tribe-position")
        if not token:
            self.fresh_failed += 1
            return
        with_after = (self._samples // int(self.fresh.get("every", 1))) % 2 == 0
        read = Request(**self.fresh["read"])
        extra = {"X-Tribe-After": token} if with_after else None
        task = asyncio.create_task(self.fresh_read(read.encode(self.host, self.port, extra), answered, with_after))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def fresh_read(self, data: bytes, answered: float, with_after: bool) -> None:
        conn = self._fresh_idle.pop() if self._fresh_idle else await Connection.open(self.host, self.port)
        try:
            status, _, _ = await conn.send(data)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.fresh_failed += 1
            conn.close()
            return
        elapsed = time.perf_counter() - answered
        self._fresh_idle.append(conn)
        if status != 200:
            self.fresh_failed += 1
        elif with_after:
            self.fresh_after.append(elapsed)
        else:
            self.fresh_plain.append(elapsed)

    async def main(self, spec: dict[str, Any]) -> dict[str, Any]:
        self._fresh_idle: list[Connection] = []
        self.t_start = time.perf_counter()
        self.t_measure = self.t_start + self.warmup
        self.t_end = self.t_measure + self.duration
        if spec["mode"] == "closed":
            await self.closed(int(spec["concurrency"]))
        else:
            await self.open_loop(float(spec["rate"]), int(spec.get("max_connections", 256)))
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=DRAIN_SECONDS)
        for conn in self._fresh_idle:
            conn.close()
        result: dict[str, Any] = {
            "completed": self.completed,
            "seconds": self.duration,
            "rps": self.completed / self.duration,
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "latency": percentiles(self.latencies),
        }
        if self.fresh:
            result["freshness"] = percentiles(self.fresh_after)
            result["plain_read"] = percentiles(self.fresh_plain)
            result["freshness_failed"] = self.fresh_failed
        return result


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    result = asyncio.run(Run(spec).main(spec))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
