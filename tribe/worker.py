"""The composition root of a projection worker: settings in, a running Faust worker out."""

from __future__ import annotations

import faust

from events.adapters.kafka_log import KafkaLog
from events.codec import EventCodec
from projections.faust_worker import WorkerOptions, create_app
from projections.feeder import ViewFeeder
from projections.views import VIEWS
from tribe.logs import configure_logging
from tribe.settings import Settings
from tribe.wiring import BadSetting, make_log, make_store


def build_worker_app(settings: Settings, options: WorkerOptions | None = None) -> faust.App:
    """The Faust app over the log and store the settings name, its topics created if missing."""
    log = make_log(settings)
    if not isinstance(log, KafkaLog):
        raise BadSetting(f"workers read Kafka: give --log kafka://HOST:PORT, not {settings.log!r}")
    log.ensure_topics()
    store = make_store(settings)
    codec = EventCodec()
    options = options or WorkerOptions(
        app_id=settings.worker_group,
        session_timeout=settings.kafka_session_timeout,
        fetch_wait=settings.kafka_fetch_wait,
    )
    feeders = [ViewFeeder(view, store, codec, log) for view in VIEWS]
    return create_app(log.bootstrap, feeders, datadir=settings.data_dir / "faust", options=options)


def run_worker(settings: Settings, options: WorkerOptions | None = None) -> None:
    """Run one worker until SIGINT/SIGTERM; it shares the partitions with the others of its group."""
    configure_logging(settings)
    app = build_worker_app(settings, options)
    worker = faust.Worker(
        app,
        loglevel="WARNING",  # Faust's own logging would put the root logger at DEBUG
        override_logging=False,  # logging is ours (tribe/logs.py): structlog lines, libraries at WARNING
        redirect_stdouts=False,
        quiet=True,
    )
    worker.spinner = None  # no terminal progress spinner: its escape codes would land in the log
    worker.execute_from_commandline()
