"""`tribe log copy`: the event log copied into a new one with other partition counts (docs/kafka.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import click

from events.routing import BadTopology, Topology
from services.log_copy import Copied, CopyRefused, copy_log
from tribe.bootstrap import codec_for, logs_to_copy
from tribe.logs import configure_logging
from tribe.settings import BadSetting, Settings


def register(main: click.Group, storage_options: Callable[..., Any], settings_from: Callable[..., Settings]) -> None:
    """Add the `log` command group to the CLI."""

    @main.group("log")
    def log_group() -> None:
        """The event log itself."""

    @log_group.command("copy")
    @click.option(
        "--from", "old_url", required=True, help="The log to copy: sqlite:///PATH or kafka://HOST:PORT[,...]."
    )
    @click.option(
        "--from-partitions",
        default="",
        help="The partitions per topic the log to copy was created with, TOPIC=N comma-separated "
        "(its TRIBE_PARTITIONS; default: the routing table's). Checked against that log.",
    )
    @click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory [TRIBE_DATA_DIR].")
    @click.option("--log", "log_url", help="The new, empty log to copy into [TRIBE_LOG].")
    def copy(old_url: str, from_partitions: str, **options: Any) -> None:
        """Copy every event of --from into the new log --log names, routed by TRIBE_PARTITIONS.

        Stop every API process and worker of the old log first: events appended during the copy are
        not copied. Each old partition is copied from its first offset to its head, in order, so every
        key's events keep their order in the new partitions; the new log's id blocks are claimed past
        the old one's. The new log must hold no event (a copy that failed: start again with an empty
        one). Then build every view from the new log into a new store (`tribe replay --all`) and
        start the new release on them (docs/kafka.md, "Growing a topic").
        """
        settings = settings_from(**options)
        configure_logging(settings)
        try:
            old_counts = Topology.parse(from_partitions)
        except BadTopology as exc:
            raise click.ClickException(f"--from-partitions: {exc}") from None

        def progress(topic: str, partition: int, head: int) -> None:
            click.echo(f"copied {topic}:{partition} ({head} entries)", err=True)

        async def run() -> Copied:
            async with logs_to_copy(settings, old_url, old_counts) as (old, new), codec_for(settings) as codec:
                return await copy_log(old, old_counts, new, codec, on_partition=progress)

        try:
            copied = asyncio.run(run())
        except (BadSetting, CopyRefused) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"copied {copied.events} events ({copied.undecodable} entries that are no event) into {settings.log}; "
            f"its id blocks start after {copied.id_block}"
        )
