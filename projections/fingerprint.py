"""The fingerprint of the code that builds a view: its reducer's source and its collections' mappings, hashed.

Two processes whose fingerprints for a view agree fold the log into the same documents; two
whose fingerprints differ may not. A view version records the fingerprint of the code that
builds it (`tribe replay` when it creates the version, the first runtime that feeds one built
before fingerprints were kept), and a runtime feeds only versions whose fingerprint is its own
(projections/live.py `fenced`): after a blue/green switch, processes still running the old
code leave the new version alone.

The reducer's source is that of every module its class and its base classes are defined in,
and of every module of the same top-level packages those modules use (helpers, document
types, the shared fold), read through `inspect`, so a change to any of them changes the
fingerprint. Pure: the same code gives the same fingerprint in every process. A view's is
computed once per view object: at import for those of projections/views.py, on first use for
others (tests build views with other reducers).
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import types
from collections.abc import Mapping

from projections.store import CollectionSpec
from projections.views import VIEWS, View
from reducers.base import Reducer

_LENGTH = 16  # hex digits: 64 bits, shown in full by `tribe replay status`


def _source_modules(reducer: Reducer) -> list[types.ModuleType]:
    """The modules defining the reducer's classes, and those of the same packages they use, by name."""
    classes = [c for c in type(reducer).__mro__ if c.__module__ not in ("builtins", "abc")]
    packages = {c.__module__.split(".")[0] for c in classes}
    pending = [sys.modules[c.__module__] for c in classes]
    found: dict[str, types.ModuleType] = {}
    while pending:
        module = pending.pop()
        if module.__name__ in found:
            continue
        found[module.__name__] = module
        for value in vars(module).values():
            used = value if isinstance(value, types.ModuleType) else sys.modules.get(getattr(value, "__module__", ""))
            if (
                isinstance(used, types.ModuleType)
                and used.__name__.split(".")[0] in packages
                and used.__name__ not in found
            ):
                pending.append(used)
    return [found[name] for name in sorted(found)]


def _spec(spec: CollectionSpec) -> str:
    indexed = None if spec.indexed is None else sorted(spec.indexed)
    return repr((sorted(spec.fields.items()), sorted(spec.lists), indexed))


def fingerprint_of(reducer: Reducer, collections: Mapping[str, CollectionSpec]) -> str:
    digest = hashlib.sha256()
    for module in _source_modules(reducer):
        digest.update(module.__name__.encode())
        try:
            digest.update(inspect.getsource(module).encode())
        except (OSError, TypeError):  # no source file (a class made in a `python -c` string): its names only
            digest.update(type(reducer).__qualname__.encode())
    for alias, spec in sorted(collections.items()):
        digest.update(f"{alias}={_spec(spec)}".encode())
    return digest.hexdigest()[:_LENGTH]


_computed: dict[int, tuple[View, str]] = {}  # by the view object's id, which the entry keeps alive


def fingerprint(view: View) -> str:
    """The fingerprint of the code that builds this view."""
    known = _computed.get(id(view))
    if known is None:
        known = _computed[id(view)] = (view, fingerprint_of(view.reducer, view.collections))
    return known[1]


for _view in VIEWS:  # the application's views, at import
    fingerprint(_view)
