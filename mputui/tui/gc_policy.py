"""Keep Python's cyclic garbage collector off 100,000 rows, without leaking.

A full collection walks every tracked object and every reference in every container: with 100k rows and the
view's lists of 100k references each, that is 100-400 ms, landing on whatever key press allocates the object
that triggers it. Long-lived data (the rows, the installed view) hold no reference cycles, so the app moves
them out of the collector's sight with ``gc.freeze()`` once they are built. Two things would leak if done
naively, and are handled here:

- garbage still waiting for the collector at the moment of freezing would be frozen for good: so every freeze
  is preceded by a collection, which only walks what is not frozen yet (recent objects: a few ms);
- objects frozen while alive that later die inside a cycle are never found: so when the user has been idle for
  a while, everything is unfrozen, collected once and frozen again (the one slow pass, when nobody waits).
"""

from __future__ import annotations

import gc
import time

IDLE_SECONDS = 5.0
"""No input for this long: a full collection (100-400 ms at 100k rows) will not be felt."""


class GcPolicy:
    """Call ``settle`` after building long-lived data, ``input_seen`` on input, ``maintain`` periodically."""

    def __init__(self) -> None:
        self._last_input = time.monotonic()
        self._frozen_since_full = False

    def settle(self) -> None:
        """The data just built is long-lived: collect the garbage that is not frozen yet, freeze the rest."""
        gc.collect()
        gc.freeze()
        self._frozen_since_full = True

    def input_seen(self) -> None:
        self._last_input = time.monotonic()

    def maintain(self) -> bool:
        """If the user is idle and something was frozen since the last full pass: unfreeze, collect, freeze."""
        if not self._frozen_since_full or time.monotonic() - self._last_input < IDLE_SECONDS:
            return False
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_since_full = False
        return True
