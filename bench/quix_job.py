"""The Quix Streams baseline for the projection figure: the counting job, consuming the same topics.

`python -m bench.quix_job BOOTSTRAP GROUP EXPECTED STATE_DIR` consumes tribe.articles and tribe.follows
from the start, decodes every value and folds it into plain dicts (bench.projection.Counter),
and stops once it has seen EXPECTED events. Prints {"events", "seconds"}: the time from the
first event to the last, so group joins and start-up are not counted.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    from quixstreams import Application
    from quixstreams.models import TopicConfig

    from bench.projection import Counter
    from events.adapters.kafka_log import TOPIC_CONFIG
    from events.routing import ARTICLES, FOLLOWS, partitions

    bootstrap, group, expected, state_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        use_changelog_topics=False,
        commit_interval=1.0,
        state_dir=state_dir,
        consumer_extra_config={"session.timeout.ms": 6000, "max.poll.interval.ms": 10000},
    )
    counter = Counter()
    times: dict[str, float] = {}

    def count(value: bytes) -> None:
        if counter.seen == 0:
            times["first"] = time.perf_counter()
        counter.add(value)
        if counter.seen >= expected:
            times["last"] = time.perf_counter()
            app.stop()

    for name in (ARTICLES, FOLLOWS):
        # Explicit configs: Tansu describes only topics created with them (the log creates them so).
        config = TopicConfig(num_partitions=partitions(name), replication_factor=1, extra_config=dict(TOPIC_CONFIG))
        topic = app.topic(name, value_deserializer="bytes", key_deserializer="bytes", config=config)
        app.dataframe(topic).update(count)
    app.run()
    print(json.dumps({"events": counter.seen, "seconds": times["last"] - times["first"]}))


if __name__ == "__main__":
    main()
