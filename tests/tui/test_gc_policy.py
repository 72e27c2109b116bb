"""The GC policy freezes long-lived data without leaking: garbage is collected before a freeze, and objects that
die inside a cycle after being frozen are collected once the user is idle."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from mputui.tui import gc_policy
from mputui.tui.gc_policy import GcPolicy


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.collect()


def test_settle_collects_garbage_before_freezing() -> None:
    garbage = Node()
    ref = weakref.ref(garbage)
    del garbage
    GcPolicy().settle()
    assert ref() is None
    assert gc.get_freeze_count() > 0


def test_objects_frozen_alive_that_die_in_a_cycle_are_collected_when_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = GcPolicy()
    alive = Node()
    ref = weakref.ref(alive)
    policy.settle()
    del alive
    gc.collect()
    assert ref() is not None  # frozen: the collector does not see it
    policy.input_seen()
    assert not policy.maintain()  # the user is typing: no full pass now
    assert ref() is not None
    monkeypatch.setattr(gc_policy, "IDLE_SECONDS", 0.0)
    assert policy.maintain()
    assert ref() is None
    assert not policy.maintain()  # nothing frozen since: nothing to do
