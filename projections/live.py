"""Which version of each view is live (the one its aliases point at), and whether this code may feed it."""

from __future__ import annotations

from projections.fingerprint import fingerprint
from projections.store import Store
from projections.views import View


def live_version(view: View, aliases: dict[str, str]) -> int | None:
    """The version the view's first alias points at, or None if the view was never installed."""
    target = aliases.get(next(iter(view.collections)))
    if target is None:
        return None
    return int(target.rsplit("_v", 1)[1])


async def fenced(store: Store, view: View, version: int) -> str | None:
    """The fingerprint of the code that builds this version if it is not this code's (then leave it alone), else None.

    A version with no fingerprint recorded (built before they were kept) is claimed for this code.
    """
    recorded = await store.claim_fingerprint(view.projection_id(version), fingerprint(view))
    return None if recorded == fingerprint(view) else recorded


async def install(store: Store, views: tuple[View, ...]) -> dict[str, int]:
    """Create the collections and aliases of every view not installed yet, recording this code as the one
    that builds them; return each live version."""
    aliases = await store.aliases()
    live: dict[str, int] = {}
    for view in views:
        version = live_version(view, aliases)
        if version is None:
            for alias, spec in view.collections.items():
                await store.ensure_collection(view.physical(alias), spec)
            await store.claim_fingerprint(view.projection_id(), fingerprint(view))
            await store.set_aliases(view.targets())
            version = view.version
        live[view.name] = version
    return live
