"""How many parallel workers a CREATE INDEX can request, and the memory that lets it have them.

Restated from PostgreSQL's src/backend/optimizer/plan/planner.c (``plan_create_index_workers``)
and src/backend/optimizer/path/allpaths.c (``compute_parallel_worker``); the same rule on every
major 13-18 (the DEBUG1 line it leads to is in src/backend/catalog/index.c, ``index_build``).
Proven on real servers by tests/test_mechanics_realpg.py, which reads the number of workers
requested from that DEBUG1 line. The rules will use it to keep ``maintenance_work_mem`` coherent
with ``max_parallel_maintenance_workers`` (more workers than the memory allows is a setting index
builds cannot use), and the audit to report the incoherent pair.

The rule, in the order the planner applies it:

1. No workers for a temporary table, an index whose expressions or predicate are not parallel
   safe, or when ``max_parallel_maintenance_workers`` is 0.
2. A table's own ``parallel_workers`` storage parameter wins outright, capped only by
   ``max_parallel_maintenance_workers``: memory is *not* considered then.
3. Otherwise ``compute_parallel_worker`` sizes the scan by the table: no worker below
   ``min_parallel_table_scan_size`` (default 8MB = 1024 pages), one from there, and one more each
   time the table triples (3x, 9x, 27x ... the threshold), capped by
   ``max_parallel_maintenance_workers``.
4. Then workers are taken away while ``maintenance_work_mem / (workers + 1) < 32MB`` (integer
   kB arithmetic, ``32768L``): every participant, the leader included, keeps 32MB of sort memory.
   So 64MB allows 1 worker, 96MB 2, 160MB 4; under 64MB the build is serial.

Which access methods build in parallel depends on the major: B-tree from 11, BRIN from 17,
GIN from 18 (``amcanbuildparallel``); pgvector's HNSW and IVFFlat do their own planning and are
not modelled here.
"""

from __future__ import annotations

#: Sort memory every CREATE INDEX participant keeps, in kB (``32768L`` in plan_create_index_workers).
PARTICIPANT_MIN_KB = 32 * 1024

#: ``min_parallel_table_scan_size``'s default, in 8kB pages (8MB).
DEFAULT_MIN_PARALLEL_TABLE_SCAN_PAGES = 1024

def table_scan_workers(
    table_pages: int,
    max_workers: int,
    min_parallel_table_scan_pages: int = DEFAULT_MIN_PARALLEL_TABLE_SCAN_PAGES,
) -> int:
    """Workers ``compute_parallel_worker`` gives a heap scan of ``table_pages`` (no reloption).

    Mirrors allpaths.c: 0 below the threshold, else 1 plus one per tripling of the threshold
    (the threshold counted as at least 1 page), capped at ``max_workers``.
    """
    if table_pages < 0 or max_workers < 0 or min_parallel_table_scan_pages < 0:
        raise ValueError("table_pages, max_workers and the scan threshold must be >= 0")
    if table_pages < min_parallel_table_scan_pages:
        return 0
    workers = 1
    threshold = max(min_parallel_table_scan_pages, 1)
    while table_pages >= threshold * 3:
        workers += 1
        threshold *= 3
        if threshold > (2**31 - 1) // 3:  # the same overflow guard as the C code
            break
    return min(workers, max_workers)


def create_index_workers(
    maintenance_work_mem_kb: int,
    max_parallel_maintenance_workers: int,
    table_pages: int | None = None,
    *,
    min_parallel_table_scan_pages: int = DEFAULT_MIN_PARALLEL_TABLE_SCAN_PAGES,
    table_parallel_workers: int | None = None,
) -> int:
    """Parallel workers a CREATE INDEX requests (``plan_create_index_workers``).

    ``maintenance_work_mem_kb`` is the setting in kB (its GUC unit). ``table_pages`` is the heap's
    size in 8kB pages; None means "large enough", so only the memory and the maximum limit.
    ``table_parallel_workers`` is the table's ``parallel_workers`` storage parameter, if set: it
    overrides both the size and the memory rule.
    """
    if maintenance_work_mem_kb < 0 or max_parallel_maintenance_workers < 0:
        raise ValueError("maintenance_work_mem and max_parallel_maintenance_workers must be >= 0")
    if max_parallel_maintenance_workers == 0:
        return 0
    if table_parallel_workers is not None:
        return min(table_parallel_workers, max_parallel_maintenance_workers)
    if table_pages is None:
        workers = max_parallel_maintenance_workers
    else:
        workers = table_scan_workers(
            table_pages, max_parallel_maintenance_workers, min_parallel_table_scan_pages
        )
    while workers > 0 and maintenance_work_mem_kb // (workers + 1) < PARTICIPANT_MIN_KB:
        workers -= 1
    return workers


def maintenance_mem_for_workers(workers: int) -> int:
    """The smallest maintenance_work_mem, in kB, that lets a CREATE INDEX request ``workers``.

    The inverse of the memory cut in :func:`create_index_workers`: 32MB for each participant,
    the leader included, so ``(workers + 1) x 32MB``; 0 workers need nothing beyond the setting's
    own minimum.
    """
    if workers < 0:
        raise ValueError("workers must be >= 0")
    if workers == 0:
        return 0
    return (workers + 1) * PARTICIPANT_MIN_KB
