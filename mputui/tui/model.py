"""The uploads pane's data, free of Textual: rows, scope, filters, sort order and marks.

Built for 100,000 rows on a slow machine: the filtered, sorted view is computed only when something it depends
on changes, by ``mputui.tui.viewcalc`` — synchronously (``view`` with ``auto_refresh``, or ``refresh_view``),
or in a thread from a ``job()`` snapshot whose result ``apply`` installs atomically (stale results are refused).
Hot loops use C-level helpers (``attrgetter``, set algebra); marks are a set of exact targets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Literal

from mputui.formatting import safe_text
from mputui.s3.models import BucketSummary, Upload
from mputui.tui.viewcalc import (
    SortColumn,
    ViewJob,
    ViewQuery,
    ViewResult,
    compute_view,
    search_sorted,
)

Ident = tuple[str, str, str]
SORT_COLUMNS: tuple[SortColumn, ...] = ("bucket", "key", "age", "activity", "parts", "size", "class")

_IDENT = attrgetter("ident")
_SIZE = attrgetter("size")
_INIT_TS = attrgetter("init_ts")


class Row:
    """One upload as the table shows it, with what filtering and sorting need precomputed."""

    __slots__ = (
        "act_ts",
        "bucket",
        "display_key",
        "ident",
        "init_ts",
        "key",
        "needle",
        "note",
        "parts",
        "size",
        "size_key",
        "storage_class",
        "upload",
    )

    def __init__(self, upload: Upload) -> None:
        self.upload = upload
        self.key = upload.key
        self.bucket = upload.bucket
        self.ident: Ident = (upload.bucket, upload.key, upload.upload_id)
        self.display_key = safe_text(upload.key)
        self.needle = self.display_key.casefold()
        self.init_ts = upload.initiated.timestamp()
        last = upload.last_modified
        self.act_ts = self.init_ts if last is None else max(self.init_ts, last.timestamp())
        self.size = upload.size or 0
        self.size_key = -1 if upload.size is None else upload.size
        self.parts = -1 if upload.parts is None else upload.parts
        self.storage_class = upload.storage_class or ""
        self.note: str | None = upload.error


@dataclass(frozen=True, slots=True)
class BucketStats:
    """Totals of the rows held for one bucket (or all of them)."""

    uploads: int = 0
    size: int = 0
    unknown_sizes: int = 0
    oldest: datetime | None = None


class UploadStore:
    """Rows of every scanned bucket plus the view the uploads pane shows."""

    def __init__(self, *, auto_refresh: bool = True) -> None:
        self._buckets: dict[str, dict[Ident, Row]] = {}
        # Marks hold the row objects (hashed by identity: much cheaper than hashing 3-string tuples).
        self._marks: set[Row] = set()
        # Totals over the marks for the status line, kept until the marks (or the view) change.
        self._marked_bytes: int | None = 0
        self._hidden: tuple[AbstractSet[Row], int] | None = None
        self._shown_size: tuple[AbstractSet[Row], int] | None = None
        self._noted: set[Row] = set()  # rows carrying a note: few, so "any shown?" is cheap
        self.scope: str | None = None
        self.key_filter = ""
        self.min_age: timedelta | None = None
        self.min_size: int | None = None
        self.sort_column: SortColumn = "age"
        self.sort_descending = True
        self.now = datetime.now(UTC)
        self.auto_refresh = auto_refresh
        """True: reading ``view`` recomputes a stale view on the spot. False: ``view`` is the last applied
        one until ``refresh_view()`` or ``apply()`` installs a new one."""
        self.data_version = 0  # bumped whenever rows are added, replaced or removed
        self.removals = 0  # bumped whenever rows are removed or replaced: older results are refused
        # Every row ascending by ``_order_column`` (never mutated: a worker may be reading it), except the
        # rows added since, which wait in ``_log`` to be merged in by the next view computation. ``_log``
        # holds every row added since ``_log_start`` (a count of rows ever added), so a view computed from
        # an older snapshot can still be installed with the rows that arrived meanwhile.
        self._order: list[Row] | None = None
        self._order_column: SortColumn | None = None
        self._log: list[Row] = []
        self._log_start = 0
        self._added = 0
        self._view: list[Row] = []
        self._view_set: AbstractSet[Row] = frozenset()
        self._view_query: ViewQuery | None = self.query  # no rows: the empty view is up to date
        self._view_data = 0
        self._last: ViewResult | None = None
        self._has_notes: bool | None = None
        self._stats: dict[str | None, BucketStats] = {}
        self.version = 0

    # -- data ----------------------------------------------------------------------------------------

    def add(self, uploads: Iterable[Upload]) -> None:
        """Add or replace rows (same exact target = same row; a replaced row keeps its mark)."""
        buckets = self._buckets
        new: list[Row] = []
        replaced: dict[Row, Row] = {}
        for upload in uploads:
            rows = buckets.get(upload.bucket)
            if rows is None:
                rows = buckets[upload.bucket] = {}
            row = Row(upload)
            old = rows.get(row.ident)
            if old is not None:
                replaced[old] = row
                self._noted.discard(old)
                if old in self._marks:
                    self._marks.discard(old)
                    self._marks.add(row)
                    self._marks_changed()
            rows[row.ident] = row
            if row.note:
                self._noted.add(row)
            new.append(row)
            self._stats.pop(upload.bucket, None)
        if replaced:
            self._forget_order()
            self.removals += 1
            self._view = [replaced.get(r, r) for r in self._view]
            self._view_set = frozenset(self._view)
        else:
            # Sorting is the view worker's job, off the event loop: new rows only join the log.
            self._log.extend(new)
            self._added += len(new)
        self._data_changed()

    def _forget_order(self) -> None:
        self._order = None
        self._log = []
        self._log_start = self._added

    def remove(self, idents: Iterable[Ident]) -> None:
        """Drop rows (and their marks); they leave the shown view at once."""
        gone: set[Row] = set()
        for ident in idents:
            rows = self._buckets.get(ident[0])
            row = rows.pop(ident, None) if rows is not None else None
            if row is not None:
                gone.add(row)
                self._stats.pop(ident[0], None)
        if gone:
            self._marks -= gone
            self._marks_changed()
            self._noted -= gone
            if self._order is not None:
                self._order = [r for r in self._order if r not in gone]
            self._log = [r for r in self._log if r not in gone]
            # Views computed before this are refused (removals changes), so the log may be renumbered.
            self._log_start = self._added - len(self._log)
            self._forget_shown(lambda r: r not in gone)
            self._data_changed()

    def clear(self, bucket: str | None = None) -> None:
        """Forget every row of ``bucket`` (of every bucket when ``None``), and their marks."""
        if bucket is None:
            self._buckets.clear()
            self._forget_shown(lambda r: False)
        else:
            self._buckets.pop(bucket, None)
            self._forget_shown(lambda r: r.bucket != bucket)
        self._marks = {r for r in self._marks if r.ident[0] in self._buckets}
        self._marks_changed()
        self._noted = {r for r in self._noted if r.ident[0] in self._buckets}
        self._stats.clear()
        self._forget_order()
        self._data_changed()

    def _forget_shown(self, keep: Callable[[Row], bool]) -> None:
        self.removals += 1
        self._view = [r for r in self._view if keep(r)]
        self._view_set = frozenset(self._view)

    def get(self, ident: Ident) -> Row | None:
        rows = self._buckets.get(ident[0])
        return rows.get(ident) if rows is not None else None

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._buckets.values())

    def set_note(self, ident: Ident, note: str | None) -> None:
        """Attach (or clear) the reason shown next to a row, e.g. why its abort failed."""
        row = self.get(ident)
        if row is not None:
            row.note = note
            if note:
                self._noted.add(row)
            else:
                self._noted.discard(row)
            self._has_notes = None
            self.version += 1

    def _data_changed(self) -> None:
        self._has_notes = None
        self._stats.pop(None, None)
        self.data_version += 1
        self.version += 1

    # -- stats ---------------------------------------------------------------------------------------

    def stats(self, bucket: str | None = None) -> BucketStats:
        """Totals over the rows of ``bucket`` (all buckets when ``None``), cached until they change."""
        cached = self._stats.get(bucket)
        if cached is not None:
            return cached
        if bucket is None:
            parts = [self.stats(name) for name in self._buckets]
            oldest = min((s.oldest for s in parts if s.oldest is not None), default=None)
            stats = BucketStats(
                sum(s.uploads for s in parts),
                sum(s.size for s in parts),
                sum(s.unknown_sizes for s in parts),
                oldest,
            )
        else:
            rows = self._buckets.get(bucket, {}).values()
            oldest_ts = min(map(_INIT_TS, rows), default=None)
            stats = BucketStats(
                uploads=len(rows),
                size=sum(map(_SIZE, rows)),
                unknown_sizes=sum(1 for r in rows if r.size_key < 0),
                oldest=datetime.fromtimestamp(oldest_ts, UTC) if oldest_ts is not None else None,
            )
        self._stats[bucket] = stats
        return stats

    # -- view ----------------------------------------------------------------------------------------

    @property
    def query(self) -> ViewQuery:
        """What the user currently asks to see."""
        return ViewQuery(
            self.scope,
            self.key_filter.casefold(),
            self.min_age,
            self.min_size,
            self.sort_column,
            self.sort_descending,
        )

    @property
    def shown_query(self) -> ViewQuery | None:
        """The query the shown view answers."""
        return self._view_query

    @property
    def view_stale(self) -> bool:
        """True when the shown view does not reflect the current query or rows yet."""
        return self._view_query != self.query or self._view_data != self.data_version

    def job(self) -> ViewJob:
        """A snapshot to compute the view from (cheap: no pass over the rows on the event loop)."""
        q = self.query
        last = self._last
        scoped = keyed = None
        if (
            last is not None
            and last.data_version == self.data_version
            and last.removals == self.removals
            and (last.query.scope, last.query.sort_column, last.query.sort_descending)
            == (q.scope, q.sort_column, q.sort_descending)
        ):
            scoped, keyed = last.scoped, last.keyed
        order = self._order if self._order_column == q.sort_column else None
        return ViewJob(
            query=q,
            data_version=self.data_version,
            removals=self.removals,
            cutoff=(self.now - self.min_age).timestamp() if self.min_age is not None else None,
            rows=() if order is not None else tuple(list(rows.values()) for rows in self._buckets.values()),
            order=order,
            extra=tuple(self._log) if order is not None else (),
            scoped=scoped,
            keyed=keyed,
            added=self._added,
        )

    def apply(self, result: ViewResult) -> bool:
        """Install a computed view; refused (False) if the query changed or rows were removed since."""
        if result.query != self.query or result.removals != self.removals:
            return False
        self._view = result.view
        self._view_set = result.view_set
        self._view_query = result.query
        self._view_data = result.data_version
        if result.data_version == self.data_version:
            self._last = result
        if result.added >= self._log_start:
            # result.order holds every row added before its snapshot; the log keeps the ones added since.
            self._log = self._log[result.added - self._log_start :]
            self._log_start = result.added
            self._order, self._order_column = result.order, result.query.sort_column
        self._has_notes = None
        self.version += 1
        return True

    def refresh_view(self) -> None:
        """Recompute the view now, on this thread."""
        self.apply(compute_view(self.job()))

    @property
    def view(self) -> list[Row]:
        """The rows the uploads pane shows: in scope, passing every filter, in sort order."""
        if self.auto_refresh and self.view_stale:
            self.refresh_view()
        return self._view

    @property
    def view_set(self) -> AbstractSet[Row]:
        """The rows in the view, as a set."""
        if self.auto_refresh and self.view_stale:
            self.refresh_view()
        return self._view_set

    def position(self, row: Row) -> int | None:
        """Where ``row`` is in the shown view (``None``: not shown): a binary search on the sort key, since
        the view is in sort order (a linear scan of 100k rows costs ~5 ms, on a key press)."""
        view, query = self._view, self._view_query
        if query is None or row not in self._view_set:
            return None
        i = search_sorted(view, row, query)
        if i < len(view) and view[i] is row:
            return i
        return view.index(row)  # a replaced row can sit out of order until the next view

    @property
    def filter_active(self) -> bool:
        return bool(self.key_filter) or self.min_age is not None or self.min_size is not None

    @property
    def has_notes(self) -> bool:
        """True when some row in the view carries a note (e.g. why its abort failed)."""
        if self._has_notes is None:
            shown = self.view_set
            self._has_notes = any(row in shown for row in self._noted)
        return self._has_notes

    def set_scope(self, bucket: str | None) -> None:
        """Show one bucket's rows, or every bucket's (``None``)."""
        if bucket != self.scope:
            self.scope = bucket
            self.version += 1

    def set_filter(
        self,
        *,
        key: str | None = None,
        min_age: timedelta | Literal[False] | None = False,
        min_size: int | Literal[False] | None = False,
    ) -> None:
        """Change the key substring, minimum age or minimum size (``False`` = leave as is)."""
        if key is not None:
            self.key_filter = key
        if min_age is not False:
            self.min_age = min_age
        if min_size is not False:
            self.min_size = min_size
        self.version += 1

    def clear_filters(self) -> None:
        self.set_filter(key="", min_age=None, min_size=None)

    def set_sort(self, column: SortColumn, descending: bool | None = None) -> None:
        """Sort by ``column``; choosing the current column again flips the direction."""
        if descending is None:
            if column == self.sort_column:
                descending = not self.sort_descending
            else:
                descending = column in ("age", "activity", "size", "parts")
        self.sort_column = column
        self.sort_descending = descending
        self.version += 1

    # -- marks ---------------------------------------------------------------------------------------

    @property
    def marks(self) -> frozenset[Ident]:
        return frozenset(map(_IDENT, self._marks))

    @property
    def marked_count(self) -> int:
        return len(self._marks)

    @property
    def marked_bytes(self) -> int:
        if self._marked_bytes is None:
            self._marked_bytes = sum(map(_SIZE, self._marks))
        return self._marked_bytes

    def _marks_changed(self, *, shown_only: bool = False, bytes_delta: int | None = None) -> None:
        """The marks changed; ``shown_only``: only rows of the shown view, so the hidden count stays;
        ``bytes_delta``: what the marked bytes changed by, when the caller knows."""
        if bytes_delta is None or self._marked_bytes is None:
            self._marked_bytes = None
        else:
            self._marked_bytes += bytes_delta
        if not shown_only:
            self._hidden = None
        self.version += 1

    def _shown_bytes(self, shown: AbstractSet[Row]) -> int:
        if self._shown_size is None or self._shown_size[0] is not shown:
            self._shown_size = (shown, sum(map(_SIZE, shown)))
        return self._shown_size[1]

    def is_marked(self, row: Row) -> bool:
        return row in self._marks

    def mark(self, idents: Iterable[Ident], marked: bool = True) -> None:
        """Mark (or unmark) these exact targets, if they are rows."""
        rows = {row for i in idents if (row := self.get(i)) is not None}
        if marked:
            self._marks |= rows
        else:
            self._marks -= rows
        self._marks_changed()

    def toggle(self, row: Row) -> None:
        # O(1), not O(marks): this is the key held down to mark rows one by one.
        if row in self._marks:
            self._marks.discard(row)
            delta = -row.size
        else:
            self._marks.add(row)
            delta = row.size
        if self._marked_bytes is not None:
            self._marked_bytes += delta
        if self._hidden is not None and row not in self._hidden[0]:
            self._hidden = None
        self.version += 1

    def mark_view(self) -> None:
        """Mark every row in the view."""
        # Mark all and invert are keys too: cost one pass over the shown rows, never two.
        added = self.view_set - self._marks
        self._marks |= added
        self._marks_changed(shown_only=True, bytes_delta=sum(map(_SIZE, added)))

    def invert_view(self) -> None:
        """Flip the mark of every row in the view; marks outside it stay."""
        shown = self.view_set
        unmarked = self._marks & shown
        self._marks ^= shown
        delta = self._shown_bytes(shown) - 2 * sum(map(_SIZE, unmarked))
        self._marks_changed(shown_only=True, bytes_delta=delta)

    def clear_marks(self) -> None:
        self._marks.clear()
        self._marks_changed()

    def marked_rows(self) -> list[Row]:
        """The marked rows, by bucket, key and upload id."""
        return sorted(self._marks, key=_IDENT)

    def hidden_marked(self) -> int:
        """How many marked rows the current bucket scope and filters hide."""
        if not self._marks:
            return 0
        shown = self.view_set
        if self._hidden is None or self._hidden[0] is not shown:
            self._hidden = (shown, len(self._marks) - len(self._marks & shown))
        return self._hidden[1]


@dataclass(slots=True)
class BucketEntry:
    """What the buckets pane knows of one bucket: scan state and, once done, its summary."""

    name: str
    state: Literal["scanning", "done", "failed", "cancelled"] = "scanning"
    error: str | None = None
    summary: BucketSummary | None = None
