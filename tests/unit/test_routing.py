"""The routing table and Kafka's murmur2 partitioner."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.catalogue import EVENT_TYPES, Event
from events.routing import (
    ARTICLES,
    DEFAULT_PARTITIONS,
    FOLLOWS,
    ROUTES,
    USERS,
    BadTopology,
    Topology,
    murmur2,
    partition_for,
    partitions,
    source_of,
)
from projections.views import VIEWS
from tests.unit.event_strategies import any_event, logs, place

# Expected values of Kafka's Java client, org.apache.kafka.common.utils.Utils.murmur2, as signed ints:
# clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2.
KAFKA_UTILS_TEST = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
# Akka's Murmur2Spec ("expected correct hash values from the kafka murmur2 impl"): every tail length.
AKKA_MURMUR2_SPEC = {
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}


def _signed(h: int) -> int:
    return h - (1 << 32) if h >= 1 << 31 else h


@pytest.mark.parametrize("data, expected", sorted({**KAFKA_UTILS_TEST, **AKKA_MURMUR2_SPEC}.items()))
def test_murmur2_matches_the_kafka_java_client(data: bytes, expected: int) -> None:
    h = murmur2(data)
    assert 0 <= h < 1 << 32
    assert _signed(h) == expected


@pytest.mark.parametrize("data, expected", sorted(KAFKA_UTILS_TEST.items()))
@pytest.mark.parametrize("topic", sorted(DEFAULT_PARTITIONS))
def test_partition_for_is_kafkas_default_partitioner(topic: str, data: bytes, expected: int) -> None:
    # Kafka's BuiltInPartitioner.partitionForKey takes Utils.toPositive(Utils.murmur2(keyBytes)) modulo numPartitions.
    assert partition_for(topic, data.decode()) == (expected & 0x7FFFFFFF) % partitions(topic)


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(sorted(DEFAULT_PARTITIONS)), st.text())
def test_partition_for_is_within_range(topic: str, key: str) -> None:
    assert 0 <= partition_for(topic, key) < partitions(topic)


def test_partition_for_encodes_keys_as_utf8() -> None:
    key = "ülrïch-☃"
    assert partition_for("tribe.articles", key) == (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % 8


def test_every_event_type_has_a_route_to_a_known_topic() -> None:
    assert set(ROUTES) == set(EVENT_TYPES)
    for name, route in ROUTES.items():
        assert route.topic in DEFAULT_PARTITIONS, name
        assert partitions(route.topic) >= 1


def test_users_topic_has_one_partition_so_handles_have_one_order() -> None:
    assert partitions(ROUTES["UserRegistered"].topic) == 1
    assert ROUTES["UserUpdated"].topic == ROUTES["UserRegistered"].topic


@settings(max_examples=120, deadline=None)
@given(any_event())
def test_every_event_gets_a_string_key_and_an_in_range_partition(event: Event) -> None:
    route = ROUTES[event.type]
    key = route.key(event)
    assert isinstance(key, str)
    assert 0 <= partition_for(route.topic, key) < partitions(route.topic)


@settings(max_examples=120, deadline=None)
@given(logs(max_size=60))
def test_every_event_feeding_one_document_lands_in_one_partition(events: list[Event]) -> None:
    for view in VIEWS:
        fed_by: dict[tuple[str, str], set[tuple[str, int]]] = {}
        for topic, partition, _, event in place(events):
            for key in view.reducer.keys(event):
                fed_by.setdefault(key, set()).add((topic, partition))
        for key, sources in fed_by.items():
            assert len(sources) == 1, f"{view.name}: {key} is fed by {sorted(sources)}"


@settings(max_examples=100, deadline=None)
@given(logs(max_size=60))
def test_each_view_reads_every_topic_its_reducer_needs(events: list[Event]) -> None:
    for view in VIEWS:
        for event in events:
            if view.reducer.keys(event):
                assert ROUTES[event.type].topic in view.topics, (view.name, event.type)


@pytest.mark.parametrize("article_id", ["a1", "01HZX3J8Q4K6", "ärticle"])
def test_all_events_of_one_article_share_a_partition(article_id: str) -> None:
    names = [n for n in EVENT_TYPES if n.startswith(("Article", "Comment"))]
    assert len(names) == 11
    partitions = set()
    for name in names:
        route = ROUTES[name]
        event = _minimal(EVENT_TYPES[name], article_id=article_id)
        partitions.add((route.topic, partition_for(route.topic, route.key(event))))
    assert len(partitions) == 1


def test_partition_counts_are_the_routing_tables_unless_a_topology_names_them() -> None:
    assert Topology.parse("") == Topology() == Topology.of({})
    assert {t: Topology().partitions(t) for t in DEFAULT_PARTITIONS} == DEFAULT_PARTITIONS
    given = Topology.parse(" tribe.articles=16 , tribe.follows=8,")
    assert given.partitions(ARTICLES) == 16 and given.partitions(FOLLOWS) == 8
    assert given.partitions(USERS) == 1 and given.partitions("tribe.tribes") == DEFAULT_PARTITIONS["tribe.tribes"]
    assert Topology.parse(str(given)) == given


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("tribe.users=2", "tribe.users keeps 1 partition, because the log decides"),
        ("tribe.articles=0", "tribe.articles=0: a topic has at least 1 partition"),
        ("tribe.article=4", "tribe.article is not a topic of the routing table"),
        ("tribe.articles", "'tribe.articles' is not TOPIC=PARTITIONS"),
        ("tribe.articles=-3", "'tribe.articles=-3' is not TOPIC=PARTITIONS"),
        ("tribe.articles=four", "'tribe.articles=four' is not TOPIC=PARTITIONS"),
        ("tribe.articles=4,tribe.articles=5", "tribe.articles is named twice"),
    ],
)
def test_a_topology_the_application_cannot_run_on_is_refused_saying_why(text: str, complaint: str) -> None:
    with pytest.raises(BadTopology) as refused:
        Topology.parse(text)
    assert complaint in str(refused.value)


@settings(max_examples=120, deadline=None)
@given(st.text(), st.integers(min_value=1, max_value=64))
def test_partition_for_follows_the_installed_topology(key: str, count: int) -> None:
    from events.routing import DEFAULT_TOPOLOGY, use_topology

    try:
        use_topology(Topology.of({ARTICLES: count}))
        assert partition_for(ARTICLES, key) == (murmur2(key.encode()) & 0x7FFFFFFF) % count
        assert partitions(ARTICLES) == count
        assert partition_for(FOLLOWS, key) == (murmur2(key.encode()) & 0x7FFFFFFF) % DEFAULT_PARTITIONS[FOLLOWS]
    finally:
        use_topology(DEFAULT_TOPOLOGY)


@pytest.mark.parametrize("article_id", ["a1", "01HZX3J8Q4K6", "ärticle"])
def test_an_articles_events_and_its_trending_bucket_follow_the_installed_topology(
    article_id: str, install_topology: Callable[[Topology], None]
) -> None:
    from reducers.trending import TrendingReducer

    install_topology(Topology.of({ARTICLES: 3}))
    bump = _minimal(EVENT_TYPES["ArticleBumped"], article_id=article_id, occurred_at=600_000)
    topic, partition = source_of(bump)
    assert topic == ARTICLES and partition == (murmur2(article_id.encode()) & 0x7FFFFFFF) % 3
    buckets = [k for k in TrendingReducer().keys(bump) if k[0] == "trend_buckets"]
    assert buckets and all(doc_id.endswith(f"@{partition}") for _, doc_id in buckets)


def _minimal(cls: type[Event], **given_fields: object) -> Event:
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.name in given_fields:
            values[f.name] = given_fields[f.name]
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        else:
            values[f.name] = 1 if hints[f.name] is int else "x"
    return cls(**values)


@settings(max_examples=100, deadline=None)
@given(logs(max_size=60))
def test_a_reducer_names_no_document_for_an_event_type_it_does_not_fold(events: list[Event]) -> None:
    """The write path skips, undecoded, the types outside a reducer's `folded_types`: they must change nothing."""
    for view in VIEWS:
        folded = view.reducer.folded_types()
        if folded is None:
            continue
        assert folded, view.name
        for event in events:
            if event.type not in folded:
                assert view.reducer.keys(event) == (), (view.name, event.type)
