"""A `tribe worker` engine for the projection figure, limited to the articles and follows views.

`python -m bench.worker_job ENGINE BOOTSTRAP STORE_DB DATA_DIR GROUP` runs the engine `kafka`
(projections/kafka_engine.py) or `faust` (projections/faust_worker.py's app) over those two
views, each batch through ViewFeeder and Projector into a SQLite store, until it is stopped;
the benchmark watches the store's checkpoints to time it.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bench.keys import codec as run_codec
from bench.keys import load_keys
from events.adapters.kafka_log import KafkaLog, KafkaOptions
from events.codec import EventCodec
from projections.adapters.sqlite_store import SqliteStore
from projections.feeder import ViewFeeder
from projections.views import VIEWS

VIEW_NAMES = ("articles", "follows")
# One broker: one replica (see tests/e2e/kafka_stack.py).
ONE_BROKER = KafkaOptions(delivery_timeout=5.0, replication_factor=1, min_insync_replicas=1)
# Tansu answers a waiting fetch only when its wait runs out; on Kafka the wait is only the idle poll.
FETCH_WAIT = 0.02


VIEWS_RUN = tuple(v for v in VIEWS if v.name in VIEW_NAMES)


def feeders(log: KafkaLog, store_db: str, codec: EventCodec) -> list[ViewFeeder]:
    store = SqliteStore(Path(store_db))
    return [ViewFeeder(v, store, codec, log) for v in VIEWS_RUN]


async def keys_loaded(bootstrap: str) -> EventCodec:
    """A codec over the run's key store (from the environment bench started this with), with every key the views'
    topics take loaded: the benchmark times these engines against a counting job that reads no key store."""
    codec = run_codec()
    log = KafkaLog(f"kafka://{bootstrap}", ONE_BROKER)
    try:
        await load_keys(codec, log, {t for v in VIEWS_RUN for t in v.topics})
    finally:
        await log.close()
    return codec


async def run_kafka_engine(bootstrap: str, store_db: str, group: str) -> None:
    from projections.kafka_engine import EngineOptions, KafkaEngine

    options = EngineOptions(group=group, session_timeout=6.0, fetch_wait=FETCH_WAIT, instance_id=None)
    codec = await keys_loaded(bootstrap)
    log = KafkaLog(f"kafka://{bootstrap}", ONE_BROKER)
    await KafkaEngine(bootstrap, feeders(log, store_db, codec), options).run()


def run_faust(bootstrap: str, store_db: str, data_dir: str, group: str) -> None:
    import faust

    from projections.faust_worker import Ownership, WorkerOptions, create_app

    # A catch-up batch holds the event loop for a while; with a short session the broker drops the
    # member mid-run and every rebalance stalls it (UnknownMemberIdError), so give it 20 s.
    options = WorkerOptions(app_id=group, session_timeout=20.0, fetch_wait=0.1)
    # Loaded before Faust's loop starts: the embedded key store (SQLite) answers on any loop.
    codec = asyncio.run(keys_loaded(bootstrap))
    log = KafkaLog(f"kafka://{bootstrap}", ONE_BROKER)
    ownership = Ownership(log, group, feeders(log, store_db, codec))
    app = create_app(bootstrap, ownership, datadir=Path(data_dir), options=options)
    worker = faust.Worker(app, loglevel="WARNING", override_logging=False, redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()


def main() -> None:
    from bench.common import quiet
    from tribe.process import tune_gc

    engine, bootstrap, store_db, data_dir, group = sys.argv[1:6]
    quiet()
    tune_gc()  # as `tribe worker` runs
    if engine == "kafka":
        asyncio.run(run_kafka_engine(bootstrap, store_db, group))
    else:
        run_faust(bootstrap, store_db, data_dir, group)


if __name__ == "__main__":
    main()
