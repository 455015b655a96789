"""The Faust runtime for the projection figure: `tribe worker`'s app, limited to the articles and follows views.

`python -m bench.faust_job BOOTSTRAP STORE_DB DATA_DIR GROUP` runs projections/faust_worker.py's
app (one agent per view, each batch through ViewFeeder and Projector into the store) until it
is stopped; the benchmark watches the store's checkpoints to time it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    import faust

    from bench.common import quiet
    from events.adapters.kafka_log import KafkaLog
    from events.codec import EventCodec
    from projections.adapters.sqlite_store import SqliteStore
    from projections.faust_worker import WorkerOptions, create_app
    from projections.feeder import ViewFeeder
    from projections.views import VIEWS
    from tribe.process import tune_gc

    bootstrap, store_db, data_dir, group = sys.argv[1:5]
    quiet()
    tune_gc()  # as `tribe worker` runs
    log = KafkaLog(f"kafka://{bootstrap}")
    store = SqliteStore(Path(store_db))
    codec = EventCodec()
    feeders = [ViewFeeder(v, store, codec, log) for v in VIEWS if v.name in ("articles", "follows")]
    # A catch-up batch holds the event loop for a while; with a short session the broker drops the
    # member mid-run and every rebalance stalls it (UnknownMemberIdError), so give it 20 s.
    app = create_app(
        log.bootstrap, feeders, datadir=Path(data_dir), options=WorkerOptions(app_id=group, session_timeout=20.0)
    )
    worker = faust.Worker(app, loglevel="WARNING", override_logging=False, redirect_stdouts=False, quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
