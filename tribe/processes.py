"""`tribe serve --processes N`: N API processes on one port, one core each.

One Python process answers on one core. This command starts N processes instead (spawned, so
nothing of this one is inherited), each listening on the same address with SO_REUSEPORT; the
kernel spreads the connections over them. What they share, and how:

- the log and the store. On the embedded default these are SQLite files, which several processes
  may open: the first process folds the log (the views and the runners, as one `tribe serve`
  does), the others append and read, and every process's followers wake on the others' appends
  within a few milliseconds (events/adapters/sqlite_log.py, `shared`). On Kafka every process
  only reads, as one `tribe serve` does there;
- the JWT secret and the key store: files in the data directory, or the settings;
- metrics: prometheus_client's multiprocess mode, in a directory this command makes and removes;
  `/metrics` on any of them answers for all (api/probes.py).

Not shared: the rate limits' counts when they are kept in memory (each process counts its own, so
a client spread over several connections may get up to N times a budget: set
TRIBE_RATE_LIMIT_STORAGE to a Redis URL to share them), the bound on a user's live streams, and
the one-second cache of token generations (services/security.py).

The first process starts alone, and the others once it serves: what a start finds wrong (a Kafka
topic weaker than configured, a log file of other partition counts) is refused in one line, by
one process, and the first has installed the views before the others read them. The command
says it serves once every process has started and listens: said earlier, a client's connections
would meet processes still importing, or, since a keep-alive connection stays with the process
that accepted it, all go to the processes already listening and stay there.

The command waits for them. SIGINT or SIGTERM is passed on as SIGTERM, on which each stops as
`tribe serve` does; when one ends by itself, the others are stopped too, and the command exits
with the first one's status. Each process ends when the command dies (PR_SET_PDEATHSIG), so a
`kill -9` of it leaves none behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from types import FrameType

from aiohttp import web

from tribe.process import tune_gc
from tribe.settings import BadSetting, Settings

_PR_SET_PDEATHSIG = 1
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's multiprocess mode: its values go to files in this directory when it is set at import."""


def serve_processes(settings: Settings, on_serving: Callable[[], None]) -> int:
    """Run `settings.processes` API processes until they end or this process is told to stop; the exit status.

    `on_serving` is called once every process serves.
    """
    metrics = tempfile.mkdtemp(prefix="tribe-metrics-")
    os.environ[_METRICS_DIR] = metrics  # inherited by each process, read as it imports prometheus_client
    context = multiprocessing.get_context("spawn")
    serving = [context.Event() for _ in range(settings.processes)]
    processes = [
        context.Process(target=_serve, args=(settings, index == 0, metrics, started), name=f"tribe-serve-{index}")
        for index, started in enumerate(serving)
    ]

    def stop(signum: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        first, *others = processes
        first.start()
        if not _until_serving(first, serving[0]):
            return first.exitcode or 0
        for process in others:
            process.start()
        if all(_until_serving(process, started) for process, started in zip(others, serving[1:])):
            on_serving()
        ended = multiprocessing.connection.wait([process.sentinel for process in processes])
        # A sentinel is readable once the process has closed its files, maybe before it can be reaped:
        # join it for its exit status.
        gone = next(process for process in processes if process.sentinel in ended)
        gone.join()
        stop(signal.SIGTERM, None)
        for process in processes:
            if process.pid is not None:
                process.join()
        return gone.exitcode or 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        del os.environ[_METRICS_DIR]
        shutil.rmtree(metrics, ignore_errors=True)


def run_api(app: web.Application, settings: Settings, on_listening: Callable[[], None], *, reuse_port: bool) -> None:
    """Serve `app` on the settings' address until stopped; `on_listening` once it has started and its socket listens.

    run_app calls its `print` then, after its sites have started.
    """

    def listening(banner: str) -> None:
        on_listening()

    web.run_app(app, host=settings.host, port=settings.port, reuse_port=reuse_port, print=listening, access_log=None)


def _until_serving(process: BaseProcess, serving: EventType) -> bool:
    """Whether `process` serves: False once it has ended without, joined for its exit status."""
    while not serving.wait(0.05):
        if not process.is_alive():
            process.join()
            return False
    return True


def _serve(settings: Settings, folds: bool, metrics: str, serving: EventType) -> None:
    """One API process: the whole API; with `folds`, the embedded log's views and runners too. It sets
    `serving` once its start has passed (the adapters opened, the topics checked, the views installed)
    and its socket listens."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the command died before the line above took effect
        sys.exit(1)
    os.setpgrp()  # a Ctrl-C reaches the command, which passes it on once, not every process twice
    tune_gc()
    from tribe.bootstrap import create_app
    from tribe.logs import configure_logging

    configure_logging(settings)
    try:
        run_api(create_app(settings, folds=folds, metrics_dir=metrics), settings, serving.set, reuse_port=True)
    except BadSetting as exc:
        print(f"tribe: {exc}", file=sys.stderr)
        sys.exit(2)
