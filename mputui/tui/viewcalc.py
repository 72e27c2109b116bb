"""Computing the uploads view (scope → sort → key filter → age/size filters) off the event loop.

Pure and thread-safe: a ``ViewJob`` is a snapshot taken on the event loop (lists that are never mutated
afterwards), ``compute_view`` turns it into a ``ViewResult`` in any thread. Every step works in chunks of
``CHUNK`` rows with a ``pause()`` between them: a C-level pass over 100k rows holds the GIL for 50-300 ms, so
unchunked work in a thread would still freeze the UI. Chunks keep each GIL hold to a few milliseconds.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain, compress, repeat
from operator import attrgetter, contains, eq, ge, le
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from mputui.tui.model import Row

SortColumn = Literal["bucket", "key", "age", "activity", "parts", "size", "class"]

CHUNK = 4000
"""Rows per C-level step: ~1-3 ms of GIL on a slow machine."""

# The attribute each column sorts on, and whether "descending" for the user means ascending for it
# (a bigger age is a smaller timestamp).
SORT_ATTR: dict[SortColumn, tuple[str, bool]] = {
    "bucket": ("ident", False),
    "key": ("key", False),
    "age": ("init_ts", True),
    "activity": ("act_ts", True),
    "parts": ("parts", False),
    "size": ("size_key", False),
    "class": ("storage_class", False),
}

_ACT_TS = attrgetter("act_ts")
_SIZE_KEY = attrgetter("size_key")
_NEEDLE = attrgetter("needle")
_BUCKET = attrgetter("bucket")

T = TypeVar("T")
U = TypeVar("U")


class ViewCancelled(Exception):
    """The computation was superseded."""


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """What the user asked to see. Two equal queries over the same rows give the same view."""

    scope: str | None
    needle: str  # the key filter, casefolded
    min_age: timedelta | None
    min_size: int | None
    sort_column: SortColumn
    sort_descending: bool


@dataclass(frozen=True, slots=True)
class ViewJob:
    """A snapshot to compute from. ``order``: every row ascending by the sort column, when already known
    (else ``rows`` holds every row, in any order); ``scoped``/``keyed``: reusable intermediate results."""

    query: ViewQuery
    data_version: int
    removals: int
    # min_age as a timestamp: rows idle since (newest part, else initiation) at or before it pass, as with the
    # CLI's --older-than: an old upload that received a part a minute ago is not stale.
    cutoff: float | None
    rows: tuple[list[Row], ...] = ()
    order: list[Row] | None = None
    extra: tuple[Row, ...] = ()  # rows not in ``order`` yet (added since it was computed)
    scoped: tuple[list[Row], list[str]] | None = None
    keyed: tuple[str, list[Row], list[str]] | None = None
    added: int = 0  # the store's count of rows ever added, at the snapshot


@dataclass(frozen=True, slots=True)
class ViewResult:
    """The computed view plus what the next computation over the same rows can reuse."""

    query: ViewQuery
    data_version: int
    removals: int
    order: list[Row]
    scoped: tuple[list[Row], list[str]]
    keyed: tuple[str, list[Row], list[str]]
    view: list[Row]
    view_set: AbstractSet[Row]  # never mutated
    added: int = 0


def sort_key(column: SortColumn) -> Callable[[Row], Any]:
    return attrgetter(SORT_ATTR[column][0], "ident")


def search_sorted(view: Sequence[Row], row: Row, query: ViewQuery) -> int:
    """Where ``row`` belongs in ``view``, a view computed for ``query`` (so in its sort order): O(log n)."""
    key = sort_key(query.sort_column)
    wanted = key(row)
    if query.sort_descending == SORT_ATTR[query.sort_column][1]:  # ascending by key, see compute_view
        return bisect_left(view, wanted, key=key)
    lo, hi = 0, len(view)  # descending by key: the first index whose key is not greater
    while lo < hi:
        mid = (lo + hi) // 2
        if key(view[mid]) > wanted:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _noop() -> None:
    return None


class _Stepper:
    """Runs C-level steps chunk by chunk, pausing and checking for cancellation between chunks."""

    def __init__(self, cancelled: Callable[[], bool], pause: Callable[[], None]) -> None:
        self.cancelled = cancelled
        self.pause = pause

    def tick(self) -> None:
        self.pause()
        if self.cancelled():
            raise ViewCancelled

    def map(self, fn: Callable[[Sequence[T]], Iterable[U]], seq: Sequence[T]) -> list[U]:
        if len(seq) <= CHUNK:
            return list(fn(seq))
        out: list[U] = []
        for i in range(0, len(seq), CHUNK):
            out.extend(fn(seq[i : i + CHUNK]))
            self.tick()
        return out

    def select(self, rows: list[Row], keep: Callable[[Sequence[Row]], Iterable[bool]]) -> list[Row]:
        return self.map(lambda chunk: compress(chunk, keep(chunk)), rows)

    def merge(self, order: list[Row], extra: Sequence[Row], key: Callable[[Row], Any]) -> list[Row]:
        """``order`` (sorted by ``key``) with ``extra`` merged in. Few extra rows (a scan streaming in): sort
        them, then copy ``order`` across in slices between their binary-searched places (O(n) copying in C);
        many: sort everything."""
        if len(extra) * 8 > len(order):
            return self.sort([*order, *extra], key)
        out: list[Row] = []
        lo = 0
        for n, row in enumerate(self.sort(list(extra), key), 1):
            at = bisect_left(order, key(row), lo=lo, key=key)
            out.extend(order[lo:at])
            out.append(row)
            lo = at
            if not n % 1024:
                self.tick()
        out.extend(order[lo:])
        return out

    def sort(self, rows: list[Row], key: Callable[[Row], Any]) -> list[Row]:
        if len(rows) <= 2 * CHUNK:
            return sorted(rows, key=key)
        runs = []
        for i in range(0, len(rows), CHUNK):
            runs.append(sorted(rows[i : i + CHUNK], key=key))
            self.tick()
        # heapq.merge is Python code: the GIL changes hands every few ms while it runs. Stable: equal keys
        # keep run order (and keys include the exact target, so there are no equal keys anyway).
        out: list[Row] = []
        append = out.append
        for n, row in enumerate(heapq.merge(*runs, key=key), 1):
            append(row)
            if not n % CHUNK:
                self.tick()
        return out


def compute_view(
    job: ViewJob,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    pause: Callable[[], None] = _noop,
) -> ViewResult:
    """The view for ``job`` (raises ``ViewCancelled`` when ``cancelled()`` turns true between chunks)."""
    q = job.query
    step = _Stepper(cancelled, pause)
    order = job.order
    key = sort_key(q.sort_column)
    if order is None:
        order = step.sort(list(chain.from_iterable(job.rows)), key)
    elif job.extra:
        order = step.merge(order, job.extra, key)
    scoped = job.scoped
    if scoped is None:
        _, inverted = SORT_ATTR[q.sort_column]
        ordered = order[::-1] if q.sort_descending != inverted else order
        if q.scope is not None:
            scope = q.scope
            ordered = step.select(ordered, lambda c: map(eq, map(_BUCKET, c), repeat(scope)))
        scoped = (ordered, step.map(lambda c: map(_NEEDLE, c), ordered))
    keyed = job.keyed
    if keyed is None or keyed[0] != q.needle:
        # Typing one more character only narrows the previous result: filter that, not every row.
        base_rows, base_needles = (
            (keyed[1], keyed[2]) if keyed is not None and keyed[0] in q.needle else scoped
        )
        if q.needle:
            needle = q.needle
            keep = step.map(lambda c: map(contains, c, repeat(needle)), base_needles)
            keyed = (needle, _compress(step, base_rows, keep), _compress(step, base_needles, keep))
        else:
            keyed = ("", base_rows, base_needles)
    rows = keyed[1]
    if job.cutoff is not None:
        cutoff = job.cutoff
        rows = step.select(rows, lambda c: map(le, map(_ACT_TS, c), repeat(cutoff)))
    if q.min_size is not None:
        min_size = q.min_size
        rows = step.select(rows, lambda c: map(ge, map(_SIZE_KEY, c), repeat(min_size)))
    view_set: set[Row] = set()
    for i in range(0, len(rows), CHUNK):
        view_set.update(rows[i : i + CHUNK])
        if len(rows) > CHUNK:
            step.tick()
    return ViewResult(q, job.data_version, job.removals, order, scoped, keyed, rows, view_set, job.added)


def _compress(step: _Stepper, seq: list[T], keep: list[bool]) -> list[T]:
    out: list[T] = []
    for i in range(0, len(seq), CHUNK):
        out.extend(compress(seq[i : i + CHUNK], keep[i : i + CHUNK]))
        if len(seq) > CHUNK:
            step.tick()
    return out
