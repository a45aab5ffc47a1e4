"""An external sort's memory, runs and merge passes, per PostgreSQL major, and what trace_sort says.

Restated from PostgreSQL's src/backend/utils/sort/tuplesort.c (``tuplesort_merge_order``,
``inittapes``, ``selectnewtape``, ``mergeruns``, ``grow_memtuples``) and the memory contexts its
tuples live in (src/backend/utils/mmgr/aset.c, generation.c, bump.c). Proven on real servers by
tests/test_mechanics_realpg.py, which reads ``trace_sort``'s LOG lines and pg_stat_database's
temp_bytes. The rules will use it to say what a work_mem value means for a sort of a given size
(in memory or not, and how many times a spilled sort rewrites its data); it models a serial,
unbounded sort (no LIMIT) that does not need random access, the case of ORDER BY, merge joins,
DISTINCT and a B-tree build's spool.

**Memory (all majors).** A sort keeps a ``SortTuple`` (24 bytes) per row in one array that starts
at 1024 slots and doubles as rows arrive, and each row's tuple in a memory context. What one
tuple costs there changed: 13-14 keep them in an AllocSet (size rounded up to a power of two plus
a 16-byte chunk header), 15 in a Generation context (MAXALIGN'd plus a 24-byte header), 16 in a
Generation context with 8-byte headers, 17+ in a Bump context (MAXALIGN'd, no header). The sort
spills to temporary files ("external sort") once that total exceeds work_mem; trace_sort then
says "switching to external sort", otherwise "internal sort ... KB used" with the total.
(15+ sort a single by-value column as bare Datums, 24 bytes a row: not modelled here.)

**Runs and merges.** A spilled sort writes sorted runs of about work_mem each, then merges them.

- 13-14: polyphase merge on ``merge order + 1`` tapes (Knuth's Algorithm D); merge order is
  ``(work_mem - 8kB) / (256kB + 8kB)`` between 6 and 500. trace_sort prints one
  "finished N-way merge step" per intermediate merge and
  "performsort ... done (except N-way final merge)" for the last, done as rows are read.
- 15+: balanced k-way merge on ``work_mem / (256kB + 2 x 8kB)`` tapes (6 to 500). Each pass
  merges one run from every input tape into a new run; trace_sort prints
  "starting merge pass of R input runs on T tapes" per pass, the last one done as rows are read.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

BLCKSZ = 8192
#: tuplesort.c: MINORDER, MAXORDER, TAPE_BUFFER_OVERHEAD, MERGE_BUFFER_SIZE (13-18).
MIN_ORDER = 6
MAX_ORDER = 500
TAPE_BUFFER_OVERHEAD = BLCKSZ
MERGE_BUFFER_SIZE = BLCKSZ * 32
#: sizeof(SortTuple) on 64-bit builds, and INITIAL_MEMTUPSIZE.
SORT_TUPLE_BYTES = 24
INITIAL_MEMTUPSIZE = 1024
#: SizeofMinimalTupleHeader rounded up to MAXALIGN: where a MinimalTuple's data starts (no nulls).
MINIMAL_TUPLE_HEADER_BYTES = 16
#: The first major with the balanced merge (commit "Replace polyphase merge algorithm ...").
BALANCED_MERGE_SINCE = 15


def _maxalign(n: int) -> int:
    return (n + 7) & ~7


def _check_major(major: int) -> None:
    if major < 13:
        raise ValueError(f"PostgreSQL {major} is not modelled (13 and later are)")


def merge_order(work_mem_kb: int, major: int) -> int:
    """Runs merged at once (``tuplesort_merge_order``) for a sort with ``work_mem_kb``."""
    _check_major(major)
    allowed = work_mem_kb * 1024
    if major >= BALANCED_MERGE_SINCE:
        order = allowed // (2 * TAPE_BUFFER_OVERHEAD + MERGE_BUFFER_SIZE)
    else:
        order = (allowed - TAPE_BUFFER_OVERHEAD) // (MERGE_BUFFER_SIZE + TAPE_BUFFER_OVERHEAD)
    return min(max(order, MIN_ORDER), MAX_ORDER)


def tapes(work_mem_kb: int, major: int) -> int:
    """The tape count trace_sort reports in "switching to external sort with N tapes".

    13-14 add the polyphase merge's output tape to the merge order; 15+ report the order itself.
    """
    order = merge_order(work_mem_kb, major)
    return order if major >= BALANCED_MERGE_SINCE else order + 1


def minimal_tuple_bytes(data_bytes: int) -> int:
    """Length of a MinimalTuple whose (aligned) column data takes ``data_bytes`` and has no nulls."""
    return MINIMAL_TUPLE_HEADER_BYTES + data_bytes


def tuple_chunk_bytes(tuple_bytes: int, major: int) -> int:
    """Memory one stored tuple of ``tuple_bytes`` costs the sort, per major's memory context."""
    _check_major(major)
    if major <= 14:  # AllocSet: power-of-two size classes (min 8 bytes) + 16-byte chunk header
        return max(8, 1 << (tuple_bytes - 1).bit_length()) + 16
    if major == 15:  # Generation context, GenerationChunk header of 24 bytes
        return _maxalign(tuple_bytes) + 24
    if major == 16:  # Generation context, 8-byte MemoryChunk header
        return _maxalign(tuple_bytes) + 8
    return _maxalign(tuple_bytes)  # 17+: Bump context, no chunk header


def memtuples_slots(rows: int) -> int:
    """Size of the SortTuple array once ``rows`` are in (it doubles when one slot is left)."""
    slots = INITIAL_MEMTUPSIZE
    while rows > slots - 1:
        slots *= 2
    return slots


def sort_memory_bytes(rows: int, tuple_bytes: int, major: int) -> int:
    """Memory an in-memory sort of ``rows`` MinimalTuples of ``tuple_bytes`` each accounts for.

    trace_sort's "internal sort ... N KB used" is this, rounded up to kB (tuples under 8kB).
    """
    if rows < 0 or tuple_bytes <= 0:
        raise ValueError("rows must be >= 0 and tuple_bytes > 0")
    array_header = 16 if major <= 15 else 8  # the array's own AllocSet chunk header
    array = memtuples_slots(rows) * SORT_TUPLE_BYTES + array_header
    return array + rows * tuple_chunk_bytes(tuple_bytes, major)


def sort_spills(rows: int, tuple_bytes: int, work_mem_kb: int, major: int) -> bool:
    """True when the sort outgrows ``work_mem_kb`` and goes to temporary files.

    Near the boundary the server may end the array's growth early (``grow_memtuples`` grows by
    less than double when doubling would not fit), so the answer is exact only outside a margin
    of about one array doubling.
    """
    return sort_memory_bytes(rows, tuple_bytes, major) > work_mem_kb * 1024


@dataclass(frozen=True)
class MergePlan:
    """The merge a spilled sort of ``runs`` runs performs, as trace_sort will report it.

    ``steps`` are the intermediate merges, each as the count trace_sort prints for it: the
    "N-way merge step" of 13-14, or the input runs of each "starting merge pass" on 15+ (where
    ``pass_tapes`` holds the matching "on T tapes"). ``final_ways`` is the on-the-fly final
    merge's order (None when one run needs no merge).
    """

    steps: tuple[int, ...]
    final_ways: int | None
    pass_tapes: tuple[int, ...] = field(default=())

    @property
    def rewrites(self) -> int:
        """How many times data goes to disk again beyond the runs (intermediate merge outputs).

        On 15+ each pass before the last rewrites all rows; on 13-14 each step rewrites only the
        runs it merges, so this counts steps, not full passes.
        """
        return len(self.steps) - 1 if self.pass_tapes else len(self.steps)


def merge_plan(runs: int, tape_count: int, major: int) -> MergePlan:
    """The merge steps (13-14) or passes (15+) for ``runs`` initial runs on ``tape_count`` tapes.

    ``tape_count`` is what :func:`tapes` gives (and trace_sort reports).
    """
    _check_major(major)
    if runs < 1 or tape_count < 2:
        raise ValueError("runs must be >= 1 and tape_count >= 2")
    if runs == 1:
        return MergePlan((), None)
    if major >= BALANCED_MERGE_SINCE:
        return _balanced_merge(runs, tape_count)
    return _polyphase_merge(runs, tape_count)


def _balanced_merge(runs: int, max_tapes: int) -> MergePlan:
    """tuplesort.c 15+ ``mergeruns``: runs go round-robin to up to max_tapes tapes; each pass
    merges one run from each tape into one output run."""
    in_runs, in_tapes = runs, min(runs, max_tapes)
    steps: list[int] = []
    pass_tapes: list[int] = []
    while True:
        steps.append(in_runs)
        pass_tapes.append(in_tapes)
        if in_runs <= in_tapes:
            return MergePlan(tuple(steps), in_runs, tuple(pass_tapes))
        in_runs = math.ceil(in_runs / in_tapes)
        in_tapes = min(in_runs, max_tapes)


def _polyphase_merge(runs: int, max_tapes: int) -> MergePlan:
    """tuplesort.c 13-14: Algorithm D's distribution (``selectnewtape``) and ``mergeruns``."""
    p = max_tapes - 1  # tapeRange: input tapes; index p is the output tape
    fib = [1] * max_tapes
    dummy = [1] * max_tapes
    nruns = [0] * max_tapes
    fib[p] = 0
    dummy[p] = 0
    level = 1
    dest = 0
    for run in range(1, runs + 1):
        nruns[dest] += 1
        dummy[dest] -= 1
        if run == runs:
            break
        # selectnewtape(): step D3, else D4
        if dummy[dest] < dummy[dest + 1]:
            dest += 1
        elif dummy[dest] != 0:
            dest = 0
        else:
            level += 1
            a = fib[0]
            for j in range(p):
                dummy[j] = a + fib[j + 1] - fib[j]
                fib[j] = a + fib[j + 1]
            dest = 0
    steps: list[int] = []
    while True:
        if all(nruns[t] + dummy[t] == 1 for t in range(p)):
            return MergePlan(tuple(steps), sum(1 for t in range(p) if dummy[t] == 0))
        while nruns[p - 1] or dummy[p - 1]:  # step D5
            if all(dummy[t] for t in range(p)):
                dummy[p] += 1
                for t in range(p):
                    dummy[t] -= 1
                continue
            active = 0
            for t in range(p):  # beginmerge()
                if dummy[t] > 0:
                    dummy[t] -= 1
                else:
                    nruns[t] -= 1
                    active += 1
            nruns[p] += 1
            steps.append(active)
        level -= 1  # step D6
        if level == 0:
            return MergePlan(tuple(steps), None)
        nruns[p - 1] = 0
        nruns[:] = [nruns[p], *nruns[:p]]
        dummy[:] = [dummy[p], *dummy[:p]]


# --------------------------------------------------------------------------- trace_sort's lines

_TAPES = re.compile(r"switching to external sort with (\d+) tapes")
_RUN = re.compile(r"finished writing run (\d+) to tape")
_STEP = re.compile(r"finished (\d+)-way merge step")
_PASS = re.compile(r"starting merge pass of (\d+) input runs on (\d+) tapes")
_FINAL = re.compile(r"done \(except (\d+)-way final merge\)")
_INTERNAL = re.compile(r"internal sort of worker -?\d+ ended, (\d+) KB used")
_EXTERNAL = re.compile(r"external sort of worker -?\d+ ended, (\d+) disk blocks used")


@dataclass(frozen=True)
class TraceSort:
    """What trace_sort reported for one serial sort (the counters, not the timings)."""

    spilled: bool
    tapes: int | None
    runs: int
    merge: MergePlan
    kb_used: int | None
    disk_blocks: int | None


def parse_trace_sort(lines: Iterable[str], major: int) -> TraceSort:
    """Read the LOG lines of one sort, in the format of ``major`` (steps on 13-14, passes on 15+)."""
    _check_major(major)
    tape_count: int | None = None
    runs = 0
    steps: list[int] = []
    pass_tapes: list[int] = []
    final: int | None = None
    kb_used: int | None = None
    blocks: int | None = None
    for line in lines:
        if m := _TAPES.search(line):
            tape_count = int(m.group(1))
        elif m := _RUN.search(line):
            runs = max(runs, int(m.group(1)))
        elif major < BALANCED_MERGE_SINCE and (m := _STEP.search(line)):
            steps.append(int(m.group(1)))
        elif major >= BALANCED_MERGE_SINCE and (m := _PASS.search(line)):
            steps.append(int(m.group(1)))
            pass_tapes.append(int(m.group(2)))
        elif m := _FINAL.search(line):
            final = int(m.group(1))
        elif m := _INTERNAL.search(line):
            kb_used = int(m.group(1))
        elif m := _EXTERNAL.search(line):
            blocks = int(m.group(1))
    return TraceSort(
        spilled=tape_count is not None,
        tapes=tape_count,
        runs=runs,
        merge=MergePlan(tuple(steps), final, tuple(pass_tapes)),
        kb_used=kb_used,
        disk_blocks=blocks,
    )
