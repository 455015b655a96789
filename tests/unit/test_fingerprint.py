"""A view's fingerprint: the same code gives the same one in every process; a change to its code or mapping does not."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from projections.fingerprint import _source_modules, fingerprint
from projections.store import CollectionSpec
from projections.views import ARTICLES_VIEW, VIEWS
from reducers.articles import ArticlesReducer


class Tweaked(ArticlesReducer):
    """Different code: a subclass (its module's source is part of its fingerprint)."""


def test_the_same_code_gives_the_same_fingerprint_in_another_process() -> None:
    mine = {view.name: fingerprint(view) for view in VIEWS}
    theirs = subprocess.run(
        [sys.executable, "-c", "from projections.fingerprint import fingerprint; from projections.views import VIEWS; "
         "print(*(f'{v.name}={fingerprint(v)}' for v in VIEWS))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert dict(pair.split("=") for pair in theirs) == mine
    assert len(set(mine.values())) == len(VIEWS)


def test_other_reducer_code_or_another_mapping_changes_it() -> None:
    assert fingerprint(dataclasses.replace(ARTICLES_VIEW, reducer=Tweaked())) != fingerprint(ARTICLES_VIEW)
    wider = {**ARTICLES_VIEW.collections, "articles": CollectionSpec({**ARTICLES_VIEW.collections["articles"].fields,
                                                                      "mood": "keyword"})}
    assert fingerprint(dataclasses.replace(ARTICLES_VIEW, collections=wider)) != fingerprint(ARTICLES_VIEW)
    assert fingerprint(dataclasses.replace(ARTICLES_VIEW, version=9)) == fingerprint(ARTICLES_VIEW)


def test_the_source_is_every_module_of_the_reducers_package_it_uses() -> None:
    names = [m.__name__ for m in _source_modules(ARTICLES_VIEW.reducer)]
    assert {"reducers.articles", "reducers.base", "reducers.documents"} <= set(names)
    assert all(name.startswith("reducers.") for name in names)
