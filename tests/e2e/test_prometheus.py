"""A real Prometheus (Debian's `prometheus`) scrapes a running `tribe serve` and a `tribe worker` on Kafka.

The test drives load through the API and asks Prometheus' HTTP API for the series: they exist on the
job that should have them, and they grow with more load. The worker's own HTTP port answers the
health probes too. scripts/debian-packages installs the server; without it the test skips, saying so.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.kafka_stack import running_worker, wait_until_projecting
from tests.e2e.server import free_port, register_and_publish, running_server
from tests.kafka_broker import TansuBroker

pytestmark = pytest.mark.kafka

PROMETHEUS = shutil.which("prometheus")
MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
WAIT = 90.0  # seconds for Prometheus to see what the test did (it scrapes every second)


class Prometheus:
    def __init__(self, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = process
        self.log_path = log_path

    def query(self, promql: str) -> list[dict[str, object]]:
        """The instant vector of the query, now."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        result: list[dict[str, object]] = answer["data"]["result"]
        return result

    def scalar(self, promql: str) -> float | None:
        """The value of a query that gives one series, None while it gives none."""
        result = self.query(promql)
        if not result:
            return None
        assert len(result) == 1, result
        value = result[0]["value"]
        assert isinstance(value, list)
        return float(value[1])

    def until(self, promql: str, test: str, check: object) -> float:
        """Poll the query until `check(value)` holds; the value. `test` names the wait in the failure."""
        assert callable(check)
        deadline = time.monotonic() + WAIT
        while True:
            value = self.scalar(promql)
            if value is not None and check(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{test}: {promql} = {value} after {WAIT} s\n{self.targets()}")
            time.sleep(0.5)

    def targets(self) -> str:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as response:
            return response.read().decode()


@contextmanager
def running_prometheus(tmp_path: Path, targets: dict[str, int]) -> Iterator[Prometheus]:
    assert PROMETHEUS is not None
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "prometheus.yml"
    jobs = [
        {"job_name": job, "scrape_interval": "1s", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for job, port in targets.items()
    ]
    config.write_text(json.dumps({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs}))  # YAML is JSON's
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(port, process, log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prometheus exited:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus not ready within 30 s:\n{log_path.read_text()}") from None
                time.sleep(0.2)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_compose_scrape_configuration_is_valid() -> None:
    promtool = shutil.which("promtool")
    # The README's test command installs it (scripts/debian-packages): a missing one is a failure, not a skip.
    assert promtool is not None, "promtool (Debian's prometheus package) is missing: run scripts/debian-packages"
    checked = subprocess.run([promtool, "check", "config", str(MONITORING / "prometheus.yml")],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def load(url: str, users: int) -> None:
    """Each user registers and publishes an article."""

    async def run() -> None:
        for _ in range(users):
            await register_and_publish(url, "load" + uuid.uuid4().hex[:8])

    asyncio.run(run())


def test_prometheus_scrapes_the_api_and_a_worker_and_their_series_move(
    isolated_kafka_broker: TansuBroker, tmp_path: Path
) -> None:
    assert PROMETHEUS is not None, "Debian's prometheus is missing: run scripts/debian-packages (as root, with apt)"
    data = tmp_path / "data"
    url = isolated_kafka_broker.url
    with (
        running_worker(url, data, tmp_path / "worker.log") as worker,
        running_server(data, "--log", url) as server,
    ):
        worker_port = int(worker.env["TRIBE_WORKER_PORT"])
        wait_until_projecting(server.url)
        with running_prometheus(tmp_path / "prometheus", {"api": server.port, "worker": worker_port}) as prometheus:
            for job in ("api", "worker"):
                prometheus.until(f'up{{job="{job}"}}', f"{job} is scraped", lambda v: v == 1)
            load(server.url, 3)

            # The API: latency by route template and status, appends by topic, read-your-writes waits.
            prometheus.until(
                'sum(tribe_http_request_duration_seconds_count{job="api",route="/api/articles",method="POST",'
                'status="201"})', "articles published", lambda v: v >= 3,
            )
            appended = prometheus.until(
                'sum(tribe_events_appended_total{job="api",topic="tribe.articles"})', "appends", lambda v: v >= 3
            )
            waits = prometheus.until(
                'sum(tribe_read_your_writes_wait_seconds_count{job="api",waiter="write"})', "waits", lambda v: v >= 6
            )
            prometheus.until('sum(tribe_read_your_writes_timeouts_total{job="api"})', "timeouts", lambda v: v >= 0)

            # The worker: events and batches per view, lag per partition, rebalances, dead letters, retries.
            applied = prometheus.until(
                'sum(tribe_projection_events_total{job="worker",view="articles"})', "articles applied", lambda v: v >= 3
            )
            prometheus.until('sum(tribe_projection_batch_seconds_count{job="worker",view="users"})', "batches",
                             lambda v: v >= 1)
            prometheus.until('tribe_worker_rebalances_total{job="worker",change="assigned"}', "assignments",
                             lambda v: v >= 1)
            prometheus.until('count(tribe_projection_lag_events{job="worker",view="articles"})', "lag series",
                             lambda v: v == 8)
            prometheus.until('count(tribe_projection_lag_seconds{job="worker"})', "lag in seconds", lambda v: v >= 8)
            prometheus.until('sum(tribe_projection_dead_letters{job="worker"})', "dead letters", lambda v: v == 0)
            assert prometheus.query('tribe_projection_events_total{job="api"}') == [], "the API does not project"

            # More load: the counters move.
            load(server.url, 2)
            prometheus.until('sum(tribe_events_appended_total{job="api",topic="tribe.articles"})', "more appends",
                             lambda v: v > appended)
            prometheus.until('sum(tribe_read_your_writes_wait_seconds_count{job="api",waiter="write"})',
                             "more waits", lambda v: v > waits)
            prometheus.until('sum(tribe_projection_events_total{job="worker",view="articles"})', "more applied",
                             lambda v: v > applied)
            prometheus.until('max(tribe_projection_lag_events{job="worker"})', "caught up", lambda v: v == 0)

            # The compose dashboard's queries are PromQL this server runs, and show these series.
            dashboard = json.loads((MONITORING / "grafana/dashboards/tribestream.json").read_text())
            quiet = ("tribe_projection_retries_total", "tribe_http_client_errors_total")  # nothing failed here
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    shown = prometheus.query(target["expr"])
                    assert shown or any(name in target["expr"] for name in quiet), (panel["title"], target["expr"])

        # The worker's probes, on its HTTP port.
        assert get(f"http://127.0.0.1:{worker_port}/health/live") == (200, {"live": True})
        deadline = time.monotonic() + WAIT
        while (ready := get(f"http://127.0.0.1:{worker_port}/health/ready"))[0] != 200:
            assert time.monotonic() < deadline, ready
            time.sleep(0.5)
        assert ready[1]["ready"] is True and ready[1]["problems"] == []
        assert get(f"{server.url}/health/ready")[0] == 200
