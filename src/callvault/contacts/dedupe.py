"""In-file dedupe on the normalised primary phone, in bounded memory.

Keys are exact: an E.164 number has at most 15 digits, so its digits fit in an int64 (`phones.dedupe_key`)
and two different numbers never share a key; there is no hash-collision bound to worry about. Keys live
in sorted numpy runs merged like a binary counter up to 4 Mi keys per run (so ~log2(4 Mi / batch) small
runs plus n / 4 Mi full ones), costing 8 bytes per distinct number plus at most 64 MB while merging,
instead of ~70 bytes per entry in a Python set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

Keys = npt.NDArray[np.int64]
MAX_RUN: Final = 1 << 22


class SeenPhones:
    """The set of primary-phone keys seen so far in one import."""

    def __init__(self, *, max_run: int = MAX_RUN) -> None:
        self._max_run = max_run
        self._runs: list[Keys] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def first_seen(self, keys: Sequence[int]) -> list[bool]:
        """For a batch of keys in file order, mark those not seen before (earlier in the batch counts),
        and remember them all."""
        if not keys:
            return []
        batch = np.fromiter(keys, dtype=np.int64, count=len(keys))
        distinct, first_index = np.unique(batch, return_index=True)
        fresh = np.ones(len(distinct), dtype=bool)
        for run in self._runs:
            slots = np.searchsorted(run, distinct)
            slots[slots == len(run)] = 0
            fresh &= run[slots] != distinct
        verdict = np.zeros(len(batch), dtype=bool)
        verdict[first_index[fresh]] = True
        self._add_run(distinct[fresh])
        fresh_flags: list[bool] = verdict.tolist()
        return fresh_flags

    def add(self, keys: Iterable[int]) -> None:
        """Remember keys without asking (rebuilding the set after a resume)."""
        chunk: list[int] = []
        for key in keys:
            chunk.append(key)
            if len(chunk) >= 65536:
                self.first_seen(chunk)
                chunk = []
        self.first_seen(chunk)

    def _add_run(self, run: Keys) -> None:
        if not len(run):
            return
        self._count += len(run)
        self._runs.append(run)
        # Merge while the newer run is at least half the older one: run sizes stay geometric. Runs stop
        # growing at MAX_RUN keys so a merge never needs more than 2 * 32 MB of extra memory.
        while (
            len(self._runs) > 1
            and 2 * len(self._runs[-1]) >= len(self._runs[-2])
            and len(self._runs[-2]) + len(self._runs[-1]) <= self._max_run
        ):
            newer, older = self._runs.pop(), self._runs.pop()
            merged = np.concatenate((older, newer))
            merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
            self._runs.append(merged)
