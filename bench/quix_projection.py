"""The Quix Streams baseline doing the projection itself: decode, fold per key, write per batch.

`python -m bench.quix_projection BOOTSTRAP STORE_DB GROUP STATE_DIR` consumes tribe.articles and
tribe.follows from the start with a Quix Streams application. Its sink collects what each
checkpoint (every 0.25 s) consumed and writes it through the articles and follows views'
`Projector.process` (decode with the event codec, fold each document's events, one SQLite
transaction with the checkpoint) into the same SQLite store the engines write, until it is
stopped. The benchmark watches the store's checkpoints to time it, as it does the engines.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any


def main() -> None:
    from quixstreams import Application
    from quixstreams.models import TopicConfig
    from quixstreams.sinks.base import BatchingSink, SinkBatch

    from bench.common import quiet
    from bench.keys import codec as run_codec
    from bench.keys import load_keys
    from bench.worker_job import ONE_BROKER
    from events.adapters.kafka_log import TOPIC_CONFIG, KafkaLog
    from events.log import Entry, Position
    from events.routing import ARTICLES, FOLLOWS, partitions
    from projections.adapters.sqlite_store import SqliteStore
    from projections.live import install
    from projections.processor import Projector
    from projections.views import VIEWS
    from tribe.process import tune_gc

    bootstrap, store_db, group, state_dir = sys.argv[1:5]
    quiet()
    tune_gc()
    loop = asyncio.new_event_loop()
    store = SqliteStore(Path(store_db))
    views = tuple(v for v in VIEWS if v.name in ("articles", "follows"))
    loop.run_until_complete(install(store, views))
    # The run's key store (from the environment bench started this with), every key the topics take loaded first,
    # as the engines it is compared with load theirs (bench/worker_job.py).
    codec = run_codec()
    log = KafkaLog(f"kafka://{bootstrap}", ONE_BROKER)
    try:
        loop.run_until_complete(load_keys(codec, log, (ARTICLES, FOLLOWS)))
    finally:
        loop.run_until_complete(log.close())
    projectors = [Projector(store, codec, view) for view in views]

    class ProjectorSink(BatchingSink):
        """Every partition's batch of one checkpoint, through each view's one write path."""

        def write(self, batch: SinkBatch) -> None:
            raise AssertionError("flush writes every partition's batch at once")

        def flush(self) -> None:
            try:
                entries = [
                    Entry(Position(batch.topic, batch.partition, item.offset), item.key or b"", item.value)
                    for batch in self._batches.values()
                    for item in batch
                ]
                for projector in projectors:
                    mine = [e for e in entries if e.position.topic in projector.view.topics]
                    if mine:
                        loop.run_until_complete(projector.process(mine))
            finally:
                self._batches.clear()

    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        use_changelog_topics=False,
        commit_interval=0.25,
        state_dir=state_dir,
        consumer_extra_config={"session.timeout.ms": 6000, "max.poll.interval.ms": 10000},
    )
    sink = ProjectorSink()
    for name in (ARTICLES, FOLLOWS):
        # Explicit configs: Tansu describes only topics created with them (the log creates them so).
        config = TopicConfig(num_partitions=partitions(name), replication_factor=1, extra_config=dict(TOPIC_CONFIG))
        topic: Any = app.topic(name, value_deserializer="bytes", key_deserializer="bytes", config=config)
        app.dataframe(topic).sink(sink)
    app.run()


if __name__ == "__main__":
    main()
