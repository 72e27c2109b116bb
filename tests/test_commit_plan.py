"""The commit planner and checksums (pure logic, property-based where it pays)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mputui.formatting import part_flag_text, parts_summary, parts_verdict, problem_text
from mputui.s3.checksums import expected_etag, multipart_etag, plain_md5, verify_file
from mputui.s3.commit import MIN_PART_SIZE, find_gaps, plan_commit
from mputui.s3.models import Part, Problem, ProblemCode

T = datetime(2026, 1, 1, tzinfo=UTC)
BIG = MIN_PART_SIZE


def part(n: int, size: int = BIG, data: bytes | None = None) -> Part:
    etag = '"' + hashlib.md5(data if data is not None else n.to_bytes(4, "big")).hexdigest() + '"'
    return Part(n, size, etag, T)


def test_clean_plan() -> None:
    plan = plan_commit("b", "k", "u", [part(2), part(1), part(3, 10)])
    assert plan.ok and [p.part_number for p in plan.parts] == [1, 2, 3]
    assert plan.size == 2 * BIG + 10 and plan.listed == 3
    assert plan.etag is not None and plan.etag.endswith("-3")


def test_no_parts() -> None:
    (problem,) = plan_commit("b", "k", "u", []).problems
    assert problem == Problem(ProblemCode.NO_PARTS)
    assert problem_text(problem) == "the upload has no parts"


def test_gap_refused_unless_contiguous_prefix() -> None:
    parts = [part(1), part(2), part(5), part(6, 1)]
    refused = plan_commit("b", "k", "u", parts)
    assert not refused.ok and refused.problems == (Problem(ProblemCode.GAP, (3, 4)),)
    # The CLI names its option; the TUI, which has a checkbox for it, does not.
    cli = problem_text(refused.problems[0], flag_hints=True)
    assert "missing 3-4" in cli and "--contiguous-prefix to commit parts 1..2" in cli
    assert "--" not in problem_text(refused.problems[0]) and "missing 3-4" in problem_text(
        refused.problems[0]
    )
    prefix = plan_commit("b", "k", "u", parts, contiguous_prefix=True)
    assert prefix.ok and [p.part_number for p in prefix.parts] == [1, 2] and prefix.dropped == (5, 6)


def test_missing_first_part() -> None:
    (gap,) = plan_commit("b", "k", "u", [part(2)]).problems
    assert gap.code is ProblemCode.GAP and "including part 1" in problem_text(gap, flag_hints=True)
    (none,) = plan_commit("b", "k", "u", [part(2)], contiguous_prefix=True).problems
    assert none.code is ProblemCode.NO_PREFIX and "part 1 is missing" in problem_text(none)


def test_small_non_last_part() -> None:
    plan = plan_commit("b", "k", "u", [part(1), part(2, BIG - 1), part(3, 1)])
    assert plan.problems == (Problem(ProblemCode.SMALL_PART, (2,)),)
    assert problem_text(plan.problems[0]) == (
        "non-last part(s) under 5 MiB: 2 (S3 refuses to complete with them: EntityTooSmall)"
    )


def test_too_many_parts() -> None:
    parts = [part(n, BIG) for n in range(1, 10_002)]
    plan = plan_commit("b", "k", "u", parts)
    assert plan.problems == (Problem(ProblemCode.TOO_MANY_PARTS, (10_001,)),)
    assert "10,000" in problem_text(plan.problems[0])
    # The parts pane and `mputui parts` show the same verdict as the commit (they once said "committable").
    assert [part_flag_text(f) for f in plan.flags[-2:]] == ["", ">10,000"]
    assert parts_verdict(plan) == ("⚠ 1 part over 10,000: blocks a commit", True)


def test_part_flags_and_verdict() -> None:
    parts = [part(1), part(2, 1), part(5), part(6, 1)]
    plan = plan_commit("b", "k", "u", parts)
    assert [f.codes for f in plan.flags] == [(), (ProblemCode.SMALL_PART,), (ProblemCode.GAP,), ()]
    assert plan.flags[2].missing_before == (3, 4)
    assert [part_flag_text(f) for f in plan.flags] == ["", "<5MiB", "gap 3-4", ""]
    summary, blocked = parts_summary(plan)
    assert blocked and summary == "4 parts · 10.0 MiB · ⚠ 1 gap, 1 small part: blocks a commit"
    assert part_flag_text(plan_commit("b", "k", "u", [part(2, 1)]).flags[0]) == "gap 1"
    assert parts_summary(plan_commit("b", "k", "u", [])) == ("no parts uploaded", False)
    assert parts_verdict(plan_commit("b", "k", "u", [part(1), part(2, 1)])) == (
        "parts look committable",
        False,
    )


@given(st.sets(st.integers(1, 60), max_size=40), st.sampled_from([1, BIG]))
def test_flags_agree_with_the_plan(numbers: set[int], small: int) -> None:
    # One verdict: the parts are flagged exactly when a commit of all of them is refused.
    parts = [part(n, small if n % 3 == 0 else BIG) for n in numbers]
    plan = plan_commit("b", "k", "u", parts)
    flagged = any(f.codes for f in plan.flags)
    assert flagged == (not plan.ok and bool(numbers))
    assert {c for f in plan.flags for c in f.codes} == {p.code for p in plan.problems} - {
        ProblemCode.NO_PARTS
    }


@given(st.sets(st.integers(1, 60), max_size=40), st.booleans())
def test_plan_properties(numbers: set[int], prefix: bool) -> None:
    parts = [part(n) for n in numbers]
    plan = plan_commit("b", "k", "u", parts, contiguous_prefix=prefix)
    chosen = [p.part_number for p in plan.parts]
    assert chosen == sorted(chosen)
    if plan.ok:
        # A plan that passes is always 1..k with no hole, and never more than what was listed.
        assert chosen == list(range(1, len(chosen) + 1))
        assert set(chosen) <= numbers
        assert plan.size == sum(p.size for p in plan.parts)
    if not prefix and find_gaps(sorted(numbers)):
        assert not plan.ok
    assert set(plan.dropped) | set(chosen) == numbers or not plan.ok


def test_multipart_etag_matches_s3_rule() -> None:
    a, b = hashlib.md5(b"a").hexdigest(), hashlib.md5(b"b").hexdigest()
    expected = hashlib.md5(hashlib.md5(b"a").digest() + hashlib.md5(b"b").digest()).hexdigest() + "-2"
    assert multipart_etag([a, b]) == expected
    assert expected_etag([Part(1, 1, f'"{a}"', T), Part(2, 1, b, T)]) == expected
    assert expected_etag([Part(1, 1, '"abc-2"', T)]) is None
    assert plain_md5('"ABCDEF0123456789ABCDEF0123456789"') == "abcdef0123456789abcdef0123456789"


def test_verify_file(tmp_path: Path) -> None:
    chunks = [b"x" * 1000, b"y" * 1000, b"z" * 10]
    parts = [part(i + 1, len(c), c) for i, c in enumerate(chunks)]
    f = tmp_path / "f"
    f.write_bytes(b"".join(chunks))
    seen: list[int] = []
    ok = verify_file(f, parts, progress=lambda done, total: seen.append(done))
    assert ok.ok and ok.matching == 3 and seen == [1000, 2000, 2010]
    assert ok.local_etag == expected_etag(parts)
    f.write_bytes(b"x" * 1000 + b"Y" * 1000 + b"z" * 10)
    bad = verify_file(f, parts)
    assert not bad.ok and bad.mismatching == (2,)
    f.write_bytes(b"x" * 1500)
    short = verify_file(f, parts)
    assert short.missing == (2, 3) and short.local_etag is None
    f.write_bytes(b"".join(chunks) + b"extra")
    longer = verify_file(f, parts)
    assert longer.matching == 3 and not longer.ok
