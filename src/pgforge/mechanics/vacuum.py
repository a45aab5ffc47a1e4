"""VACUUM's dead-tuple memory and the index passes it costs, per PostgreSQL major.

Restated from PostgreSQL's src/backend/access/heap/vacuumlazy.c (``compute_max_dead_tuples`` on
13-14, ``dead_items_max_items`` on 15-16, ``dead_items_alloc`` and the TidStore on 17+) and
src/include/commands/vacuum.h (``MAXDEADITEMS``); proven on real servers by
tests/test_mechanics_vacuum_realpg.py, which counts the index passes ``VACUUM (VERBOSE)`` reports.
Used by the autovacuum_work_mem rule (src/pgforge/rules/memory.py). Its sibling modules in
:mod:`pgforge.mechanics` model other mechanisms (index builds, sorts).

**13-16.** VACUUM remembers each dead tuple's TID, an ``ItemPointerData`` of 6 bytes, in one
array allocated from ``autovacuum_work_mem`` (an autovacuum worker, when it is not -1) or else
``maintenance_work_mem``. The array holds ``(mem - 8) / 6`` TIDs (8 bytes of header: two ints),
capped at what ``MaxAllocSize`` (1GB - 1 byte) holds: 178,956,969 TIDs, about 179 million,
whatever the setting. A small table gets only ``rel_pages x MaxHeapTuplesPerPage`` slots, and
never fewer than ``MaxHeapTuplesPerPage`` (291 with 8kB pages). Before each heap page, when fewer
than 291 slots are free, VACUUM stops the heap scan and scans **every index of the table once**
to delete the TIDs collected so far (an "index pass"), then goes on with an empty array; after the
heap scan one more pass takes the rest. So a table whose dead tuples do not fit costs one full
read of each of its indexes per fill. (14+ may skip index vacuuming altogether when under 2% of
the pages hold dead items, ``BYPASS_THRESHOLD_PAGES``; this model does not count that shortcut.)

**17+.** The TIDs go into a TidStore, a radix tree keyed by heap block that keeps each page's dead
offsets as a bitmap, and the pass happens when the store's memory exceeds the setting; the 1GB cap
is gone (``max_bytes = vac_work_mem * 1024``). A page's bitmap takes tens of bytes however many of
its tuples are dead, against 6 bytes per tuple before, so the same memory holds many times more
dead tuples (the real-server test: a table whose ~500,000 dead tuples take 3 index passes with
1MB on 13-16 takes one on 17 and 18). Its exact size depends on how the dead tuples spread over
pages, so this module gives no fixed capacity for 17+; :func:`index_passes` uses a conservative
bound per page with dead tuples.
"""

from __future__ import annotations

import math

#: Heap tuples an 8kB page can hold: (BLCKSZ - page header 24) / (MAXALIGN(tuple header 23) + line pointer 4).
MAX_HEAP_TUPLES_PER_PAGE = (8192 - 24) // (24 + 4)
#: sizeof(ItemPointerData): block number (2 x uint16) and offset (uint16).
TID_BYTES = 6
#: offsetof(VacDeadItems, items) (15-16) / offsetof(LVDeadTuples, itemptrs) (13-14): two ints.
ARRAY_HEADER_BYTES = 8
#: MaxAllocSize (src/include/utils/memutils.h): one palloc'd chunk is at most 1GB - 1 byte.
MAX_ALLOC_SIZE = 0x3FFFFFFF
INT_MAX = 2**31 - 1
#: The first major that keeps dead TIDs in a TidStore (no per-tuple array, no 1GB cap).
TIDSTORE_MAJOR = 17
#: A bound on the TidStore's bytes per heap page with dead items (17+): a page's offset bitmap
#: (up to 291 offsets: 5 words of 8 bytes) plus its entry header and a share of the radix tree's
#: inner nodes and allocation overhead. A deliberately generous estimate, not a constant of the source.
TIDSTORE_BYTES_PER_PAGE = 128


def _array_items(mem_bytes: int) -> int:
    return (mem_bytes - ARRAY_HEADER_BYTES) // TID_BYTES


#: Dead tuples one VACUUM can remember on 13-16 at most: MAXDEADITEMS(MaxAllocSize) = 178,956,969.
MAX_DEAD_TUPLES = _array_items(MAX_ALLOC_SIZE)


def _check(mem_bytes: int, major: int) -> None:
    if mem_bytes < 1024:
        raise ValueError(f"vacuum memory of {mem_bytes} bytes: the setting is in kB, at least 1kB")
    if major < 13:
        raise ValueError(f"PostgreSQL {major} is older than pgforge models (13+)")


def dead_tuple_capacity(mem_bytes: int, major: int, rel_pages: int | None = None) -> int | None:
    """Dead tuples one fill of the array holds with ``mem_bytes`` of vacuum memory on ``major``.

    13-16: ``(mem - 8) / 6`` TIDs, at most 178,956,969 (the 1GB ``MaxAllocSize`` bound) and
    ``INT_MAX``; given ``rel_pages``, at most ``rel_pages x 291`` (a small table allocates no
    more); never fewer than 291. The setting is in kB, so ``mem_bytes`` is rounded down to kB
    as the server reads it. 17+: ``None``; the TidStore has no per-tuple capacity (module docstring).
    """
    _check(mem_bytes, major)
    if major >= TIDSTORE_MAJOR:
        return None
    items = _array_items((mem_bytes // 1024) * 1024)
    items = min(items, INT_MAX, MAX_DEAD_TUPLES)
    if rel_pages is not None and items // MAX_HEAP_TUPLES_PER_PAGE > rel_pages:
        items = rel_pages * MAX_HEAP_TUPLES_PER_PAGE
    return max(items, MAX_HEAP_TUPLES_PER_PAGE)


def index_passes(dead_tuples: int, mem_bytes: int, major: int, *, dead_per_page: int | None = None) -> int:
    """How many times VACUUM scans each index of a table to remove ``dead_tuples`` on ``major``.

    ``dead_per_page`` is how many dead tuples each heap page holds (the last page may hold fewer).
    On 13-16 the pass is taken before a page when fewer than 291 slots are free, so a fill holds
    ``k = ceil((capacity - 290) / dead_per_page)`` pages; the passes are ``ceil(pages / k)``. Without
    ``dead_per_page`` the answer is the most passes any layout can take: every fill holds at least
    ``capacity - 290`` tuples. On 17+ the estimate is ``ceil(pages x 128 bytes / mem)``, at least
    one (:data:`TIDSTORE_BYTES_PER_PAGE`, a generous bound), with one dead tuple per page when
    ``dead_per_page`` is not given. No dead tuples, no pass.
    """
    _check(mem_bytes, major)
    if dead_tuples < 0:
        raise ValueError("dead tuples cannot be negative")
    if dead_per_page is not None and not 1 <= dead_per_page <= MAX_HEAP_TUPLES_PER_PAGE:
        raise ValueError(f"a heap page holds 1..{MAX_HEAP_TUPLES_PER_PAGE} dead tuples, not {dead_per_page}")
    if dead_tuples == 0:
        return 0
    if major >= TIDSTORE_MAJOR:
        pages = math.ceil(dead_tuples / (dead_per_page or 1))
        return max(1, math.ceil(pages * TIDSTORE_BYTES_PER_PAGE / ((mem_bytes // 1024) * 1024)))
    capacity = dead_tuple_capacity(mem_bytes, major)
    assert capacity is not None
    per_fill = max(1, capacity - (MAX_HEAP_TUPLES_PER_PAGE - 1))
    if dead_per_page is None:
        return math.ceil(dead_tuples / per_fill)
    pages = math.ceil(dead_tuples / dead_per_page)
    pages_per_fill = math.ceil(per_fill / dead_per_page)
    return math.ceil(pages / pages_per_fill)


def memory_for_one_pass(dead_tuples: int, major: int) -> int | None:
    """Bytes of vacuum memory that keep ``dead_tuples`` to one index pass on 13-16, rounded up to
    a whole kB (the setting's unit); ``None`` when even the 1GB cap cannot (more than
    178,956,969 - 290 tuples) or on 17+, where the TidStore has no per-tuple formula."""
    if major >= TIDSTORE_MAJOR:
        return None
    slots = dead_tuples + MAX_HEAP_TUPLES_PER_PAGE - 1
    if slots > MAX_DEAD_TUPLES:
        return None
    return math.ceil((ARRAY_HEADER_BYTES + slots * TID_BYTES) / 1024) * 1024
