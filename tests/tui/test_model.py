"""The uploads row store without Textual: scope, filters, sort, marks, and their invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from mputui.s3.models import Upload
from mputui.tui.model import SORT_COLUMNS, Row, UploadStore
from mputui.tui.viewcalc import search_sorted

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MIB = 1024 * 1024


def up(bucket: str, key: str, uid: str, days: float, size: int | None = 100, parts: int | None = 1) -> Upload:
    return Upload(bucket, key, uid, NOW - timedelta(days=days), parts=parts, size=size)


def store_with(*uploads: Upload) -> UploadStore:
    store = UploadStore()
    store.now = NOW
    store.add(uploads)
    return store


UPLOADS = (
    up("b1", "logs/a", "1", 10, size=500),
    up("b1", "logs/b", "2", 1, size=50),
    up("b2", "img/c", "3", 30, size=5000, parts=7),
    up("b2", "img/c", "4", 2, size=None, parts=None),
)


def keys(store: UploadStore) -> list[tuple[str, str]]:
    return [(r.key, r.upload.upload_id) for r in store.view]


def test_default_sort_is_oldest_first_and_deterministic() -> None:
    store = store_with(*UPLOADS)
    assert keys(store) == [("img/c", "3"), ("logs/a", "1"), ("img/c", "4"), ("logs/b", "2")]
    store2 = store_with(*reversed(UPLOADS))
    assert keys(store2) == keys(store)


def test_sort_every_column_both_ways() -> None:
    store = store_with(*UPLOADS)
    for column in ("bucket", "key", "age", "activity", "parts", "size", "class"):
        store.set_sort(column)  # type: ignore[arg-type]
        first = keys(store)
        store.set_sort(column)  # type: ignore[arg-type]
        assert keys(store) == first[::-1] or column == "class"
    store.set_sort("size", descending=True)
    assert keys(store)[0] == ("img/c", "3")
    assert keys(store)[-1] == ("img/c", "4")  # unknown size sorts below 0 bytes


def test_streamed_rows_keep_sort_order() -> None:
    store = UploadStore()
    store.add([up("b", f"k{i}", str(i), days=i) for i in range(0, 100, 2)])
    assert len(store.view) == 50
    store.add([up("b", f"k{i}", str(i), days=i) for i in range(1, 100, 2)])
    ages = [r.init_ts for r in store.view]
    assert ages == sorted(ages)


def test_scope_and_filters() -> None:
    store = store_with(*UPLOADS)
    store.set_scope("b2")
    assert {k for k, _ in keys(store)} == {"img/c"}
    store.set_scope(None)
    store.set_filter(key="LOGS")
    assert keys(store) == [("logs/a", "1"), ("logs/b", "2")]
    store.set_filter(key="logs/a")  # narrows the previous result
    assert keys(store) == [("logs/a", "1")]
    store.set_filter(key="")
    store.set_filter(min_age=timedelta(days=5))
    assert keys(store) == [("img/c", "3"), ("logs/a", "1")]
    store.set_filter(min_age=None, min_size=100)
    assert keys(store) == [("img/c", "3"), ("logs/a", "1")]
    assert store.filter_active
    store.clear_filters()
    assert len(store.view) == 4 and not store.filter_active


def test_marks_count_bytes_hidden_and_invert() -> None:
    store = store_with(*UPLOADS)
    store.mark_view()
    assert store.marked_count == 4 and store.marked_bytes == 5550
    store.set_filter(key="logs")
    assert store.hidden_marked() == 2
    store.invert_view()
    assert store.marked_count == 2 and store.marked_bytes == 5000
    store.clear_filters()
    store.invert_view()
    assert store.marks == {("b1", "logs/a", "1"), ("b1", "logs/b", "2")}
    store.clear_marks()
    assert store.marked_count == 0


def test_remove_and_replace_keep_marks_consistent() -> None:
    store = store_with(*UPLOADS)
    store.mark([("b1", "logs/a", "1"), ("b2", "img/c", "3")])
    store.remove([("b2", "img/c", "3")])
    assert store.marks == {("b1", "logs/a", "1")}
    store.add([up("b1", "logs/a", "1", 10, size=999)])  # a rescan replaces the row
    assert store.marked_bytes == 999
    assert len(store.view) == 3
    store.clear("b1")
    assert store.marked_count == 0
    assert {r.bucket for r in store.view} == {"b2"}


def test_stats() -> None:
    store = store_with(*UPLOADS)
    all_stats = store.stats()
    assert (all_stats.uploads, all_stats.size, all_stats.unknown_sizes) == (4, 5550, 1)
    assert all_stats.oldest == NOW - timedelta(days=30)
    assert store.stats("b1").uploads == 2


def store_rows(store: UploadStore) -> list[Row]:
    return [r for bucket in store._buckets.values() for r in bucket.values()]


def test_chunked_view_computation_matches_the_simple_one(monkeypatch: Any) -> None:
    """The worker's chunked sort/filter (tiny chunks here) gives exactly the one-pass result."""
    from mputui.tui import viewcalc

    store = store_with(
        *[
            up(f"b{i % 3}", f"k/{(i * 7919) % 101:03d}-{i}", str(i), i % 17, size=i % 5 * 100)
            for i in range(101)
        ]
    )
    expected = {}
    for column in ("key", "age", "size", "bucket"):
        store.set_sort(column)  # type: ignore[arg-type]
        store.set_filter(key="k/0", min_size=100)
        expected[column] = [r.ident for r in store.view]
    monkeypatch.setattr(viewcalc, "CHUNK", 3)
    ticks = []
    for column in ("key", "age", "size", "bucket"):
        store.set_sort(column)  # type: ignore[arg-type]
        job = store.job()
        # From scratch: every row unsorted, no reusable intermediate result.
        job = viewcalc.ViewJob(
            job.query, job.data_version, job.removals, job.cutoff, rows=([*store_rows(store)],)
        )
        result = viewcalc.compute_view(job, pause=lambda: ticks.append(1))
        assert [r.ident for r in result.view] == expected[column]
    assert ticks


def test_cached_mark_totals_and_notes_match_a_recount_after_any_operations() -> None:
    """marked_bytes, hidden_marked and has_notes are kept incrementally: they must equal a full recount."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ops = st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "toggle",
                    "mark_view",
                    "invert",
                    "clear_marks",
                    "scope",
                    "filter",
                    "remove",
                    "re_add",
                    "note",
                ]
            ),
            st.integers(0, 11),
        ),
        max_size=30,
    )

    @settings(max_examples=150, deadline=None)
    @given(ops)
    def run(steps: list[tuple[str, int]]) -> None:
        pool = [up(f"b{i % 3}", f"k{i % 5}", str(i), i, size=(i * 37) % 200, parts=i % 4) for i in range(12)]
        store = store_with(*pool)
        for op, n in steps:
            upload = pool[n]
            row = store.get((upload.bucket, upload.key, upload.upload_id))
            if op == "toggle" and row is not None:
                store.toggle(row)
            elif op == "mark_view":
                store.mark_view()
            elif op == "invert":
                store.invert_view()
            elif op == "clear_marks":
                store.clear_marks()
            elif op == "scope":
                store.set_scope(None if n % 4 == 3 else f"b{n % 3}")
            elif op == "filter":
                store.set_filter(key=["", "k1", "k", "zz"][n % 4])
            elif op == "remove":
                store.remove([(upload.bucket, upload.key, upload.upload_id)])
            elif op == "re_add":
                store.add([upload])
            elif op == "note" and row is not None:
                store.set_note(row.ident, None if row.note else "failed")
            marked = [r for r in store.marked_rows()]
            assert store.marked_bytes == sum(r.size for r in marked)
            shown = set(store.view)
            assert store.hidden_marked() == sum(1 for r in marked if r not in shown)
            assert store.has_notes == any(r.note for r in store.view)

    run()


def test_position_finds_every_shown_row_under_every_sort_and_filter() -> None:
    """position() binary-searches the sort key: it must agree with a linear search, for every order."""
    pool = [
        up(f"b{i % 3}", f"k{i % 7}/{i % 4}", str(i), i % 9, size=(i * 37) % 5, parts=i % 3) for i in range(60)
    ]
    pool.append(up("b0", "k1/1", "none", 2, size=None, parts=None))
    store = store_with(*pool)
    for column in ("bucket", "key", "age", "activity", "parts", "size", "class"):
        for descending in (False, True):
            for needle in ("", "k1", "/2"):
                store.set_sort(column, descending)  # type: ignore[arg-type]
                store.set_filter(key=needle)
                view = store.view
                assert view, (column, descending, needle)
                query = store.shown_query
                assert query is not None
                for i, row in enumerate(view):
                    assert search_sorted(view, row, query) == i  # the binary search itself, no fallback
                    assert store.position(row) == i
                shown = set(view)
                for upload in pool:
                    row = store.get((upload.bucket, upload.key, upload.upload_id))
                    assert row is not None
                    if row not in shown:
                        assert store.position(row) is None


def test_views_computed_from_older_snapshots_never_lose_or_duplicate_rows() -> None:
    """Rows stream in while views are computed in a worker from snapshots: whatever the interleaving of adds,
    replacements, removals, sort changes and (stale) results, the store's order plus its log is every row
    once, and the next view is exactly the brute-force one."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mputui.tui.viewcalc import compute_view, sort_key

    step = st.tuples(
        st.sampled_from(["add", "replace", "remove", "snapshot", "apply", "sort"]), st.integers(0, 40)
    )

    @settings(max_examples=200, deadline=None)
    @given(st.lists(step, max_size=40))
    def run(steps: list[tuple[str, int]]) -> None:
        store = UploadStore(auto_refresh=False)
        store.now = NOW
        made: dict[tuple[str, str, str], Upload] = {}
        jobs: list[Any] = []
        serial = 0
        for op, n in steps:
            if op == "add":
                batch = []
                for _ in range(n % 7 + 1):
                    serial += 1
                    u = up(f"b{serial % 2}", f"k{serial % 11}", f"u{serial}", serial % 13, size=serial % 5)
                    batch.append(u)
                    made[(u.bucket, u.key, u.upload_id)] = u
                store.add(batch)
            elif op == "replace" and made:
                old = sorted(made)[n % len(made)]
                u = up(old[0], old[1], old[2], n % 13, size=n)
                made[old] = u
                store.add([u])
            elif op == "remove" and made:
                gone = sorted(made)[n % len(made)]
                del made[gone]
                store.remove([gone])
            elif op == "snapshot":
                jobs.append(store.job())
            elif op == "apply" and jobs:
                store.apply(compute_view(jobs.pop(n % len(jobs))))
            elif op == "sort":
                store.set_sort(SORT_COLUMNS[n % len(SORT_COLUMNS)])  # type: ignore[index]
            order, log = store._order, store._log
            if order is not None:
                key = sort_key(store._order_column or "age")
                assert order == sorted(order, key=key)
                everything = [*order, *log]
                assert len(everything) == len(set(everything)) == len(made)
                assert {r.ident for r in everything} == set(made)
        store.refresh_view()
        key = sort_key(store.sort_column)
        expected = sorted((Row(u) for u in made.values()), key=key)
        if store.sort_descending != (store.sort_column in ("age", "activity")):
            expected.reverse()
        assert [r.ident for r in store.view] == [r.ident for r in expected]

    run()


def test_a_removal_from_the_log_keeps_later_views_complete() -> None:
    from mputui.tui.viewcalc import compute_view

    store = UploadStore(auto_refresh=False)
    store.now = NOW
    first = [up("b", f"a{i}", str(i), i) for i in range(5)]
    store.add(first)
    store.apply(compute_view(store.job()))  # the order is known
    late = [up("b", f"l{i}", f"l{i}", i + 0.5) for i in range(4)]
    store.add(late)  # waiting in the log
    store.remove([("b", "l1", "l1")])
    job = store.job()
    later = [up("b", f"z{i}", f"z{i}", i + 0.25) for i in range(3)]
    store.add(later)  # arrives while the view is computed
    assert store.apply(compute_view(job))
    store.refresh_view()
    expected = {u.upload_id for u in first + later + late} - {"l1"}
    assert {r.upload.upload_id for r in store.view} == expected
