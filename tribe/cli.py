"""`tribe`: run the social network and operate its log and read models.

Every option also reads a TRIBE_* environment variable (see tribe/settings.py);
an option given on the command line wins.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from tribe.process import tune_gc
from tribe.settings import BadSetting, Settings

_COMMON = [
    click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory [TRIBE_DATA_DIR, ./tribe-data]."),
    click.option("--log", "log_url", help="Event log: sqlite:///PATH or kafka://HOST:PORT[,...] [TRIBE_LOG]."),
    click.option("--store", "store_url", help="Read store: sqlite:///PATH or an Elasticsearch URL [TRIBE_STORE]."),
]


def storage_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The --data-dir, --log and --store options every command that touches data takes."""
    for option in reversed(_COMMON):
        command = option(command)
    return command


def settings_from(**options: Any) -> Settings:
    """Settings from the environment, read once, with the given command-line options on top.

    A value that cannot be used ends the process with one line naming it, and exit status 2.
    """
    try:
        return Settings.from_env().with_options(**options)
    except BadSetting as exc:
        click.echo(f"tribe: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tribestream: a social network on streams.

    Every write is an immutable event in a log; every read comes from a read model
    folded from that log. With no configuration, everything runs in one process
    on local disk (./tribe-data).
    """
    tune_gc()


@main.command()
@click.option("--host", help="Listen address [TRIBE_HOST, 127.0.0.1].")
@click.option("--port", type=int, help="Listen port [TRIBE_PORT, 8080].")
@click.option(
    "--processes", type=int, help="API processes on the port, one core each; the first folds the log "
    "[TRIBE_PROCESSES, 1]."
)
@storage_options
def serve(**options: Any) -> None:
    """Run the HTTP API (the RealWorld Conduit API under /api, native events under /v1).

    On the embedded log (the default) the reducers run in this process too (with --processes,
    in the first process). Rate limits kept in memory count per process (tribe/processes.py).
    """
    settings = settings_from(**options)
    where = f"http://{settings.host}:{settings.port} (log {settings.log}, store {settings.store})"
    if settings.processes > 1:
        from tribe.processes import serve_processes

        def serving() -> None:
            click.echo(f"tribe serving on {where} in {settings.processes} processes", err=True)

        sys.exit(serve_processes(settings, serving))

    from tribe.bootstrap import create_app
    from tribe.logs import configure_logging
    from tribe.processes import run_api

    configure_logging(settings)
    try:
        run_api(
            create_app(settings), settings, lambda: click.echo(f"tribe serving on {where}", err=True), reuse_port=False
        )
    except BadSetting as exc:  # found at start, e.g. a Kafka topic with fewer replicas than configured
        click.echo(f"tribe: {exc}", err=True)
        sys.exit(2)


@main.command()
@storage_options
@click.option(
    "--engine",
    "worker_engine",
    type=click.Choice(["kafka", "faust"]),
    help="Projection engine [TRIBE_WORKER_ENGINE, kafka].",
)
def worker(**options: Any) -> None:
    """Run a projection worker: every read model, fed from Kafka into the store.

    Needs --log kafka://HOST:PORT[,HOST:PORT]. Start as many as you like with the same
    --log and --store: they share the partitions, and a restarted one resumes from the
    checkpoints in the store. A failing view is retried with backoff while the other views
    go on; events at fault (undecodable, a reducer that raises, a document the store refuses)
    are parked as dead letters with their key's later events (`tribe dlq`). Views whose live
    version is built by other code are left alone (`tribe replay status` says so). It answers
    /metrics, /health/live and /health/ready on TRIBE_WORKER_PORT (9464; 0 for none).

    \b
    Engines:
      kafka  (default) batches straight from librdkafka; offsets are stored only after the
             store write that covers them, a partition that moves is committed first, and
             every assignment starts from the store's checkpoints.
      faust  Faust (faust-streaming), for those who run Faust apps, at about a fifth of
             the kafka engine's throughput. Its group's offsets can pass what a failing
             view stored; every assignment catches the views up from the store's
             checkpoints all the same, and a revoke waits for the write in flight. See
             docs/kafka.md.
    """
    from tribe.bootstrap import run_worker
    from tribe.logs import configure_logging

    settings = settings_from(**options)
    configure_logging(settings)
    try:
        run_worker(settings)
    except BadSetting as exc:
        click.echo(f"tribe: {exc}", err=True)
        sys.exit(2)


def _register_commands() -> None:
    from tribe import dlq_commands, log_commands, moderator_commands, replay_commands

    replay_commands.register(main, storage_options, settings_from)
    dlq_commands.register(main, storage_options, settings_from)
    log_commands.register(main, storage_options, settings_from)
    moderator_commands.register(main, storage_options, settings_from)


_register_commands()
