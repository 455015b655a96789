"""The composition root: every process's object graph, built from one frozen Settings.

`tribe serve` gets `create_app`, `tribe worker` gets `run_worker`, `tribe replay` and its
helper processes get `adapters`. Nothing here opens a file or a connection before the process
starts working: the API opens its adapters in aiohttp's cleanup context, the others in an
async context manager. This is the only module that knows every adapter.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from api.app import build_app
from api.limits import Budgets, RateLimiter
from api.probes import HEALTH, REGISTRY, HttpMetrics, gathered, probe_app
from api.requests import PORTS
from api.v1_admin import ADMIN
from api.v1_moderation import MODERATORS
from api.v1_stream import STREAMS
from events.adapters.kafka_log import KafkaLog, KafkaOptions, TopicMismatch
from events.adapters.key_stores import key_store_for
from events.adapters.sqlite_files import ForeignFile
from events.adapters.sqlite_log import OtherTopology, SqliteLog
from events.codec import EventCodec
from events.keys import KeyStore
from events.log import Log
from events.routing import ARTICLES, Topology, use_topology
from events.sealing import KeyRing
from projections.adapters.elasticsearch_store import ElasticsearchStore
from projections.adapters.sqlite_store import OtherLayout, SqliteStore, StoreInUse, reset_layout
from projections.dead_letters import DeadLetters
from projections.embedded import EmbeddedRuntime
from projections.failures import ProjectionFailed, Retry, die, this_process
from projections.feeder import ViewFeeder
from projections.lag import EVERY as LAG_EVERY
from projections.lag import keep_recording, record
from projections.live import install
from projections.metrics import ProjectionMetrics
from projections.progress import Progress
from projections.queries import Footprint, ReadModels, SocialReads
from projections.store import Store
from projections.timeline_queries import TimelineReads
from projections.views import ARTICLES_VIEW, FOLLOWS_VIEW, MODERATION_VIEW, TIMELINES_VIEW, TRIBES_VIEW, VIEWS, View
from replay.versions import Throughput, Versions
from services.admin import Admin
from services.classifier import CHECKPOINT as MODERATION_CHECKPOINT
from services.classifier import Judge, WordList
from services.erasure import Erasure
from services.erasure_runner import ErasureRunner
from services.fanout import FanOut, FanOutPolicy
from services.fanout_runner import TP, FanOutRunner
from services.health import Health
from services.metrics import WriteMetrics
from services.moderation import Moderators
from services.ports import Ports
from services.security import Generations, Tokens
from services.stream import Authors, Hub, Streams, Tickets
from services.writer import EventWriter
from tribe.process import tune_gc
from tribe.settings import BadSetting, Settings


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def install_topology(settings: Settings) -> None:
    """The process's partition counts (TRIBE_PARTITIONS), installed before any log, store, view or app is built.

    Every entry point below calls it first; no other module installs a topology (tests aside).
    """
    use_topology(settings.partitions)


def make_log(settings: Settings) -> Log:
    """The log the settings name; a SQLite file that is not an event log, or that was created with other
    partition counts, is a BadSetting (and is left as it is)."""
    url = settings.log
    if url.startswith("sqlite:///"):
        try:
            return SqliteLog(_sqlite_path(url), shared=settings.processes > 1)
        except ForeignFile as exc:
            raise BadSetting(f"TRIBE_LOG: {exc}") from None
        except OtherTopology as exc:
            raise BadSetting(f"TRIBE_PARTITIONS: {exc}") from None
    return KafkaLog(url, kafka_options(settings))


def make_store(settings: Settings) -> Store:
    """The store the settings name; a SQLite file that is not a store of this layout is a BadSetting (left as it is)."""
    url = settings.store
    if url.startswith("sqlite:///"):
        try:
            return SqliteStore(_sqlite_path(url), parsed_bytes=settings.parsed_docs_mb << 20)
        except (ForeignFile, OtherLayout) as exc:
            raise BadSetting(f"TRIBE_STORE: {exc}") from None
    return ElasticsearchStore.from_url(url)


def reset_store_layout(settings: Settings) -> int | None:
    """Empty a SQLite store of another layout before `tribe replay --all` rebuilds it; the layout it had, or None.

    Refused (BadSetting) while another process has it open, or for a file that is not a store.
    Elasticsearch has no layout: nothing to reset.
    """
    if not settings.store.startswith("sqlite:///"):
        return None
    try:
        return reset_layout(_sqlite_path(settings.store))
    except (ForeignFile, StoreInUse) as exc:
        raise BadSetting(f"TRIBE_STORE: {exc}") from None


def _secret_file(path: Path, make: Callable[[], str], setting: str) -> str:
    """The secret kept in `path`, created private on first start with `make`.

    The secret is written whole to a private temporary file (mkstemp: 0600, O_EXCL), which is then
    hard-linked at `path`: the link appears with its content, or fails because the file exists.
    So of processes starting at once on a new data directory, one creates the file and the others
    read it whole (never empty or half-written); none overwrites a secret already handed out.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(make())
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            os.unlink(draft)
    secret = path.read_text().strip()
    if not secret:
        raise BadSetting(f"{path} is empty: remove it to have a new secret made, or set {setting}")
    return secret


def jwt_secret(settings: Settings) -> str:
    """The configured secret, or the one kept in the data directory (jwt.secret)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return _secret_file(settings.data_dir / "jwt.secret", lambda: secrets.token_urlsafe(48), "TRIBE_JWT_SECRET")


def key_encryption_key(settings: Settings) -> bytes:
    """The configured key-encryption key, or the one kept in the data directory (key-encryption.key)."""
    text = settings.key_encryption_key or _secret_file(
        settings.data_dir / "key-encryption.key",
        lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
        "TRIBE_KEY_ENCRYPTION_KEY",
    )
    key = base64.b64decode(text)
    if len(key) != 32:
        raise BadSetting("the key-encryption key is not 32 bytes in base64: set TRIBE_KEY_ENCRYPTION_KEY")
    return key


def make_key_store(settings: Settings) -> KeyStore:
    """The key store the settings name; a SQLite file of another kind is a BadSetting (left as it is)."""
    try:
        return key_store_for(settings.key_store, settings.data_dir)
    except ForeignFile as exc:
        raise BadSetting(f"TRIBE_KEY_STORE: {exc}") from None


async def key_ring(settings: Settings) -> KeyRing:
    """The process's key ring over the key store the settings name, started (the handles key loaded)."""
    ring = KeyRing(make_key_store(settings), key_encryption_key(settings))
    try:
        await ring.start()
    except BaseException:
        await ring.close()
        raise
    return ring


async def make_codec(settings: Settings) -> EventCodec:
    """The codec every process encodes and decodes events with: sealing with the key store the settings name."""
    return EventCodec(await key_ring(settings))


@contextlib.asynccontextmanager
async def codec_for(settings: Settings) -> AsyncIterator[EventCodec]:
    """`make_codec`, closed after the block."""
    codec = await make_codec(settings)
    try:
        yield codec
    finally:
        await codec.close()


@contextlib.asynccontextmanager
async def adapters(settings: Settings) -> AsyncIterator[tuple[Log, Store, EventCodec]]:
    """The log, the store and the codec (with its key store) the settings name, open for the block, closed after it."""
    install_topology(settings)
    log = make_log(settings)
    try:
        store = make_store(settings)
        try:
            codec = await make_codec(settings)
            try:
                yield log, store, codec
            finally:
                await codec.close()
        finally:
            await store.close()
    finally:
        await log.close()


@contextlib.asynccontextmanager
async def logs_to_copy(settings: Settings, old_url: str, old_counts: Topology) -> AsyncIterator[tuple[Log, Log]]:
    """`tribe log copy`: the old log at `old_url`, checked to have `old_counts`, and the new log the settings name
    (its Kafka topics created with TRIBE_PARTITIONS), open for the block. A mismatch is a BadSetting."""
    install_topology(settings)
    old_url = settings.with_options(log_url=old_url).log
    if old_url == settings.log:
        raise BadSetting(f"--from: {old_url} is the log to copy into (TRIBE_LOG): name another")
    old: Log
    if old_url.startswith("sqlite:///"):
        try:
            old = SqliteLog(_sqlite_path(old_url), old_counts)
        except ForeignFile as exc:
            raise BadSetting(f"--from: {exc}") from None
        except OtherTopology as exc:
            raise BadSetting(f"--from-partitions: {exc}") from None
    else:
        kafka = KafkaLog(old_url, kafka_options(settings), old_counts)
        old = kafka
        found = await asyncio.to_thread(kafka.partition_counts)
        for topic, count in old_counts.counts:
            if found.get(topic, count) != count:
                await kafka.close()
                raise BadSetting(
                    f"--from-partitions: topic {topic} of {old_url} has {found[topic]} partitions, not {count}"
                )
    try:
        new = make_log(settings)
        try:
            if isinstance(new, KafkaLog):
                await check_topics(new)
            yield old, new
        finally:
            await new.close()
    finally:
        await old.close()


@contextlib.asynccontextmanager
async def helper_adapters(settings: Settings) -> AsyncIterator[tuple[Log, Store, EventCodec]]:
    """`adapters` for a replay helper process, which tunes its collector first as every tribe process does."""
    tune_gc()
    async with adapters(settings) as opened:
        yield opened


def build_ports(
    settings: Settings,
    log: Log,
    store: Store,
    codec: EventCodec,
    progress: Progress,
    metrics: WriteMetrics | None = None,
) -> Ports:
    """What every service takes, over an open log and store (the write path counted in `metrics`)."""
    reads = ReadModels(store, codec.handle_id)
    return Ports(
        writer=EventWriter(log, codec, progress, settings.write_wait, metrics),
        reads=reads,
        social=SocialReads(store),
        timelines=TimelineReads(store),
        tokens=Tokens(jwt_secret(settings), settings.token_ttl),
        generations=Generations(reads.token_generation, ttl=1.0),
        keys=codec.ring(),
        registration_wait=settings.registration_wait,
    )


def fanout_runner(
    settings: Settings, log: Log, store: Store, codec: EventCodec, *, owned: Callable[[], Collection[TP]] | None = None
) -> FanOutRunner:
    """The fan-out of the hybrid feed (services/fanout.py), over the partitions `owned` names (None: all)."""
    fanout = FanOut(TimelineReads(store), FanOutPolicy(settings.fanout_threshold))
    poll = 0.01 if isinstance(store, SqliteStore) else 0.05
    consulted = Progress(store, (FOLLOWS_VIEW, TRIBES_VIEW, ARTICLES_VIEW), poll=poll)
    return FanOutRunner(
        log, store, codec, fanout, consulted, owned=owned, wait=settings.fanout_wait, wakeup=_woken_by(log)
    )


def erasure_runner(
    settings: Settings, log: Log, store: Store, codec: EventCodec, *, owned: Callable[[], Collection[TP]] | None = None
) -> ErasureRunner:
    """The erasure (services/erasure.py), if `owned` (None: all) includes `tribe.users`.

    Its grace outlasts an append in flight: the producer's delivery timeout on Kafka; on the
    embedded log an append is a local transaction.
    """
    poll = 0.01 if isinstance(store, SqliteStore) else 0.05
    grace = settings.kafka_delivery_timeout + 1 if isinstance(log, KafkaLog) else 1.0
    return ErasureRunner(
        log, store, codec, Erasure(Footprint(store)), Progress(store, VIEWS, poll=poll),
        owned=owned, grace=grace, wakeup=_woken_by(log),
    )


def moderation_runner(
    settings: Settings, log: Log, store: Store, codec: EventCodec, *, owned: Callable[[], Collection[TP]] | None = None
) -> FanOutRunner:
    """The classifier (services/classifier.py) over new articles and comments, from its own checkpoint.

    It consults no view (the runner never waits for one); a model replaces `WordList` here.
    """
    judge = Judge(WordList(settings.moderation_words))
    return FanOutRunner(
        log, store, codec, judge, Progress(store, ()),
        owned=owned, checkpoint=MODERATION_CHECKPOINT, topics=(ARTICLES,), wakeup=_woken_by(log),
    )


def _woken_by(log: Log) -> asyncio.Event | None:
    """What wakes a runner on `log`'s appends (events/log.py `until_appended`): the embedded log tells its
    followers; a Kafka runner polls."""
    return log.watch() if isinstance(log, SqliteLog) else None


def retry(settings: Settings) -> Retry:
    """How every runtime retries a failing view before parking the events at fault."""
    return Retry(settings.projection_retries, settings.projection_backoff)


def runner(settings: Settings) -> str:
    """The name a runtime reports its views' status under: the worker's instance id, or host and process."""
    return settings.worker_instance_id or this_process()


def view_feeders(
    settings: Settings, views: Collection[View], store: Store, codec: EventCodec, log: Log, metrics: ProjectionMetrics
) -> list[ViewFeeder]:
    """A worker's feeder of each view, retrying and reporting as the settings say, whichever its engine."""
    return [
        ViewFeeder(view, store, codec, log, retry=retry(settings), runner=runner(settings), metrics=metrics)
        for view in views
    ]


def rate_limiter(settings: Settings) -> RateLimiter:
    """The API's rate limits; the storage the settings name opens with the application."""
    budgets = Budgets(
        reads=settings.rate_limit_reads,
        writes=settings.rate_limit_writes,
        login_ip=settings.rate_limit_login_ip,
        login_email=settings.rate_limit_login_email,
    )
    return RateLimiter(budgets, settings.rate_limit_storage)


def create_app(
    settings: Settings,
    *,
    log: Log | None = None,
    store: Store | None = None,
    views: tuple[View, ...] = VIEWS,
    folds: bool = True,
    metrics_dir: str | None = None,
) -> web.Application:
    """The API over the log and store the settings name (or the ones given, for tests; `views` too).

    With the embedded log, the reducers run inside this process (unless `folds` is False: another
    process of `tribe serve --processes` runs them); with Kafka, `tribe worker` processes run them,
    and this process only reads their checkpoints from the store. `metrics_dir`: where the processes
    of `tribe serve --processes` write their metrics, which `/metrics` then sums.
    """
    install_topology(settings)
    registry = CollectorRegistry()  # the process's own, not the library's global one: apps in one test stay apart
    app = build_app(cors_origins=settings.cors_origins, limiter=rate_limiter(settings), metrics=HttpMetrics(registry))
    app[REGISTRY] = registry if metrics_dir is None else gathered(metrics_dir)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        the_log = log or make_log(settings)
        the_store = store or make_store(settings)
        codec = await make_codec(settings)
        runtime = None
        if isinstance(the_log, SqliteLog) and folds:
            runtime = EmbeddedRuntime(
                the_log, the_store, codec, views, wakeup=the_log.watch(), retry=retry(settings),
                runner=runner(settings), metrics=ProjectionMetrics(registry),
            )
        # Without an in-process runtime to wake it, a write polls the store's checkpoints: every 10 ms on
        # SQLite (a local read), every 50 ms on a networked store, where each poll is a request.
        poll = 0.01 if isinstance(the_store, SqliteStore) else 0.05
        advanced = (lambda: runtime.advanced) if runtime is not None else None
        progress = Progress(the_store, views, advanced=advanced, poll=poll)
        app[PORTS] = build_ports(settings, the_log, the_store, codec, progress, WriteMetrics(registry))
        app[HEALTH] = Health(the_log, the_store, views, settings.ready_max_lag)
        app[ADMIN] = Admin(
            frozenset(settings.admins),
            app[PORTS].reads,
            DeadLetters(the_log, the_store, codec, views),
            Versions(the_log, the_store, views),
            Throughput(),
        )
        app[MODERATORS] = Moderators(frozenset(settings.moderators))
        app[STREAMS] = Streams(
            Hub(the_log, codec, Authors(app[PORTS].social), app[PORTS].reads),
            Tickets(jwt_secret(settings), settings.stream_ticket_ttl),
            settings.stream_limit,
        )
        if isinstance(the_log, KafkaLog):
            await check_topics(the_log)
        await install(the_store, views)
        tasks = []
        if runtime is not None:
            tasks.append(asyncio.create_task(runtime.run(), name="embedded-runtime"))
            if TIMELINES_VIEW in views:
                fanout = fanout_runner(settings, the_log, the_store, codec)
                tasks.append(asyncio.create_task(fanout.run(), name="fanout"))
            if views == VIEWS:
                erasure = erasure_runner(settings, the_log, the_store, codec)
                tasks.append(asyncio.create_task(erasure.run(), name="erasure"))
            if MODERATION_VIEW in views:
                judge = moderation_runner(settings, the_log, the_store, codec)
                tasks.append(asyncio.create_task(judge.run(), name="moderation"))
            lag = keep_recording(the_log, the_store, views, runtime.metrics)
            tasks.append(asyncio.create_task(lag, name="lag-metrics"))
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app[STREAMS].hub.close()
        await progress.close()
        await the_log.close()
        await the_store.close()
        await codec.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def kafka_options(settings: Settings) -> KafkaOptions:
    return KafkaOptions(
        delivery_timeout=settings.kafka_delivery_timeout,
        replication_factor=settings.kafka_replication_factor,
        min_insync_replicas=settings.kafka_min_insync_replicas,
    )


async def check_topics(log: KafkaLog) -> None:
    """Create the missing topics; an existing one of another shape or weaker durability is a BadSetting."""
    try:
        await asyncio.to_thread(log.ensure_topics)
    except TopicMismatch as exc:
        raise BadSetting(str(exc)) from None


def _kafka_log(settings: Settings, log: Log) -> KafkaLog:
    if not isinstance(log, KafkaLog):
        raise BadSetting(f"TRIBE_LOG: workers read Kafka; give kafka://HOST:PORT, not {settings.log!r}")
    return log


def probe_socket(settings: Settings) -> socket.socket | None:
    """The worker's HTTP port (TRIBE_WORKER_PORT; None for 0), bound before the worker starts: a port in use
    stops it at once, as a BadSetting."""
    if not settings.worker_port:
        return None
    try:
        return socket.create_server((settings.host, settings.worker_port))
    except OSError as exc:
        raise BadSetting(
            f"TRIBE_WORKER_PORT: cannot listen on {settings.host}:{settings.worker_port} "
            f"({os.strerror(exc.errno) if exc.errno else exc}); "
            "give each worker on a host a port of its own, or 0 for none"
        ) from None


async def serve_probes(sock: socket.socket, registry: CollectorRegistry, health: Health) -> web.AppRunner:
    """Answer /metrics and /health/* on the socket, on the running loop, until the runner is cleaned up."""
    runner = web.AppRunner(probe_app(registry, health), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


def run_worker(settings: Settings, *, store: Store | None = None, views: tuple[View, ...] = VIEWS) -> None:
    """Run one projection worker with the engine the settings name, until SIGINT/SIGTERM.

    It shares the partitions with the other workers of its group. A failing view is retried and its
    events at fault parked (projections/failures.py); what no view's retry mends stops it with exit code 70.
    `store` replaces the configured store and `views` the application's (tests inject failing ones).
    """
    install_topology(settings)
    if settings.worker_engine == "faust":
        run_faust_worker(settings, store=store, views=views)
        return
    try:
        asyncio.run(run_kafka_worker(settings, store=store, views=views))
    except ProjectionFailed as failed:
        die(failed.view, failed.cause)


async def run_kafka_worker(
    settings: Settings, *, store: Store | None = None, views: tuple[View, ...] = VIEWS
) -> None:
    """The default engine (projections/kafka_engine.py), its log and store open for as long as it runs."""
    from projections.kafka_engine import EngineOptions, KafkaEngine

    options = EngineOptions(
        group=settings.worker_group,
        session_timeout=settings.kafka_session_timeout,
        fetch_wait=settings.kafka_fetch_wait,
        instance_id=settings.worker_instance_id,
    )
    sock = probe_socket(settings)
    registry = CollectorRegistry()
    metrics = ProjectionMetrics(registry)
    async with adapters(settings) as (opened_log, opened_store, codec):
        log = _kafka_log(settings, opened_log)
        await check_topics(log)
        the_store = store or opened_store
        feeders = view_feeders(settings, views, the_store, codec, log, metrics)
        probes = None
        if sock is not None:
            probes = await serve_probes(sock, registry, Health(log, the_store, views, settings.ready_max_lag))
        engine = KafkaEngine(log.bootstrap, feeders, options, metrics)
        background = [asyncio.create_task(keep_recording(log, the_store, views, metrics), name="lag-metrics")]
        if TIMELINES_VIEW in views:
            fanout = fanout_runner(settings, log, the_store, codec, owned=engine.assigned)
            background.append(asyncio.create_task(fanout.run(), name="fanout"))
        if views == VIEWS:
            erasure = erasure_runner(settings, log, the_store, codec, owned=engine.assigned)
            background.append(asyncio.create_task(erasure.run(), name="erasure"))
        if MODERATION_VIEW in views:
            judge = moderation_runner(settings, log, the_store, codec, owned=engine.assigned)
            background.append(asyncio.create_task(judge.run(), name="moderation"))
        try:
            await engine.run()
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if probes is not None:
                await probes.cleanup()


def run_faust_worker(settings: Settings, *, store: Store | None = None, views: tuple[View, ...] = VIEWS) -> None:
    """`--engine faust`: one Faust worker (projections/faust_worker.py); its adapters open when Faust starts."""
    import faust

    from projections.faust_worker import Ownership, WorkerOptions
    from projections.faust_worker import create_app as create_worker_app

    log = _kafka_log(settings, make_log(settings))
    asyncio.run(check_topics(log))
    sock = probe_socket(settings)
    the_store = store or make_store(settings)
    # Started by the first batch it decodes, on Faust's event loop (a client of a networked key store
    # belongs to the loop it first connects on).
    codec = EventCodec(KeyRing(make_key_store(settings), key_encryption_key(settings)))
    registry = CollectorRegistry()
    metrics = ProjectionMetrics(registry)
    options = WorkerOptions(
        app_id=settings.worker_group,
        session_timeout=settings.kafka_session_timeout,
        fetch_wait=settings.kafka_fetch_wait,
    )
    ownership = Ownership(log, options.app_id, view_feeders(settings, views, the_store, codec, log, metrics), metrics)
    app = create_worker_app(log.bootstrap, ownership, datadir=settings.data_dir / "faust", options=options)

    async def lag() -> None:
        await record(log, the_store, views, metrics)

    app.timer(LAG_EVERY, on_leader=False)(lag)
    if TIMELINES_VIEW in views:

        async def fanout() -> None:
            await fanout_runner(settings, log, the_store, codec, owned=ownership.held).run()

        app.task(fanout, on_leader=False)
    if views == VIEWS:

        async def erasure() -> None:
            await erasure_runner(settings, log, the_store, codec, owned=ownership.held).run()

        app.task(erasure, on_leader=False)
    if MODERATION_VIEW in views:

        async def moderation() -> None:
            await moderation_runner(settings, log, the_store, codec, owned=ownership.held).run()

        app.task(moderation, on_leader=False)
    if sock is not None:
        health = Health(log, the_store, views, settings.ready_max_lag)

        async def probes() -> None:
            await serve_probes(sock, registry, health)  # Faust's loop runs it until the process ends

        app.task(probes, on_leader=False)
    worker = faust.Worker(
        app,
        loglevel="WARNING",  # Faust's own logging would put the root logger at DEBUG
        override_logging=False,  # logging is ours (tribe/logs.py): structlog lines, libraries at WARNING
        redirect_stdouts=False,
        quiet=True,
    )
    worker.spinner = None  # no terminal progress spinner: its escape codes would land in the log
    worker.execute_from_commandline()
