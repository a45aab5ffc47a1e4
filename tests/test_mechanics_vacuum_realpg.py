"""VACUUM's index passes on real servers equal src/pgforge/mechanics/vacuum.py (issue 14, step 3).

A counter that does not depend on this machine's speed: how many times VACUUM scans a table's
index, which ``VACUUM (VERBOSE)`` reports as one ``scanned index "..." to remove N row versions``
line per index per pass on 13-14 and as ``index scans: N`` from 15. With ``maintenance_work_mem``
at its 1MB minimum a table of a few hundred thousand dead rows shows several passes on 13-16;
the same tables take one pass on 17 and 18, whose TidStore is far more compact. One server per
major, every table vacuumed on it; fsync off and small tables keep the module near 20 s.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from pgharness import PgCluster, _clean_env, client_bindir
from pgforge.mechanics.vacuum import MAX_HEAP_TUPLES_PER_PAGE, dead_tuple_capacity, index_passes

CONF = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nautovacuum = off\nmaintenance_work_mem = 1MB\n"
MB = 1024 * 1024

#: (table, rows inserted, every how many rows one is deleted (1 = all), maintenance_work_mem in MB,
#:  the index passes 13-16 take, counted by hand from the formula in the module docstring)
CASES = [
    ("t100k", 100_000, 1, 1, 1),
    ("t300k", 300_000, 1, 1, 2),
    ("t500k", 500_000, 1, 1, 3),
    ("t500k_2mb", 500_000, 1, 2, 2),
    ("t600k_half", 600_000, 2, 1, 2),
]

_SCANNED = re.compile(r'scanned index "([^"]+)" to remove (\d+) row versions')
_INDEX_SCANS = re.compile(r'finished vacuuming "[^"]+": index scans: (\d+)')


def reported_passes(major: int, verbose: str, indexes: int = 1) -> int:
    """The index passes one ``VACUUM (VERBOSE)`` of a table reports, read the way each major prints them."""
    if major <= 14:
        return len(_SCANNED.findall(verbose)) // indexes
    found = _INDEX_SCANS.findall(verbose)
    assert len(found) == 1, verbose
    return int(found[0])


def test_the_parsers_read_each_majors_wording() -> None:
    v13 = ('INFO:  scanned index "t_id_idx" to remove 174472 row versions\nINFO:  "t": removed 174472 row versions\n'
           'INFO:  scanned index "t_id_idx" to remove 151056 row versions\nINFO:  index "t_id_idx" now contains 0 row versions')
    assert reported_passes(13, v13) == 2
    assert reported_passes(15, 'INFO:  finished vacuuming "postgres.public.t": index scans: 3\npages: 2213 removed') == 3
    assert reported_passes(17, 'INFO:  finished vacuuming "postgres.public.t": index scans: 0\n') == 0


def _vacuum_verbose(cluster: PgCluster, table: str, mem_mb: int) -> str:
    sql = f"SET maintenance_work_mem = '{mem_mb}MB';\nVACUUM (VERBOSE) {table};\n"
    proc = subprocess.run(
        [str(client_bindir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(cluster.sockdir),
         "-p", str(cluster.port), "-U", "postgres", "-d", "postgres", "-f", "-"],
        input=sql, capture_output=True, text=True, env=_clean_env(), timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


@pytest.fixture(scope="module", params=[13, 14, 16, 17])
def vacuumed(request) -> tuple[int, dict[str, tuple[str, int, int]]]:
    """One server per major: every table of CASES built, its rows deleted, then VACUUM (VERBOSE).

    Returns the major and, per table, (verbose output, rows on a full page, dead tuples)."""
    major = request.param
    out: dict[str, tuple[str, int, int]] = {}
    with PgCluster(major, conf_extra=CONF) as cluster:
        script = []
        for table, rows, every, _, _ in CASES:
            script.append(f"CREATE TABLE {table} (id int); INSERT INTO {table} SELECT generate_series(1, {rows});"
                          f" CREATE INDEX ON {table} (id);")
        cluster.psql("\n".join(script))
        per_page = {}
        for table, rows, every, _, _ in CASES:
            # rows on heap page 0: every page but the last holds as many (one int column, inserted in order)
            per_page[table] = int(cluster.psql(f"SELECT count(*) FROM {table} WHERE ctid < '(1,0)'::tid"))
            cluster.psql(f"DELETE FROM {table} WHERE id % {every} = 0")
        for table, rows, every, mem_mb, _ in CASES:
            out[table] = (_vacuum_verbose(cluster, table, mem_mb), per_page[table], rows // every)
    return major, out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_index_passes_equal_the_model(vacuumed, case) -> None:
    major, out = vacuumed
    table, rows, every, mem_mb, passes_13_16 = case
    verbose, rows_per_page, dead = out[table]
    assert rows_per_page == 226  # 28-byte tuples + 4-byte line pointers: the layout the hand counts assume
    reported = reported_passes(major, verbose)
    model = index_passes(dead, mem_mb * MB, major, dead_per_page=rows_per_page // every)
    assert reported == model, (major, table, verbose)
    if major <= 16:
        assert reported == passes_13_16
        # the conservative form (no page layout) never says fewer passes than the server takes
        assert index_passes(dead, mem_mb * MB, major) >= reported
        if major <= 14:  # each pass but the last removes what one fill held: 772 full pages at 1MB
            removed = [int(n) for _, n in _SCANNED.findall(verbose)]
            capacity = dead_tuple_capacity(mem_mb * MB, major)
            assert all(capacity - MAX_HEAP_TUPLES_PER_PAGE < n <= capacity for n in removed[:-1]), removed
            assert sum(removed) == dead
    else:
        assert reported == 1, "17+ keeps these dead tuples in one TidStore fill"
