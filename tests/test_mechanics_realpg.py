"""pgforge.mechanics.index_build and .sort against real servers, by counters the server prints.

CREATE INDEX: the workers requested, from index_build's DEBUG1 line ("with request for N parallel
worker(s)" or "serially"). Sorts: trace_sort's LOG lines (tapes, runs, merge steps on 13-14, merge
passes on 15+, KB used in memory), log_temp_files' sizes and pg_stat_database.temp_bytes. None of
these depends on this machine's speed. One server per major; every case in it.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import pytest
from pgharness import MAJORS, PgCluster, _clean_env, client_bindir

from pgforge.mechanics import index_build, sort

CONF = "fsync = off\nsynchronous_commit = off\nmax_worker_processes = 8\nmax_parallel_workers = 8\n"

_BUILDING = re.compile(
    r'building index "(\w+)" on table "\w+" (?:with request for (\d+) parallel workers?|serially)'
)


def _session(cluster: PgCluster, sql: str, db: str = "postgres") -> tuple[str, str]:
    """Run ``sql`` in one psql session; return (stdout, stderr): stderr carries DEBUG/LOG lines."""
    proc = subprocess.run(
        [
            str(client_bindir() / "psql"),
            "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", "postgres", "-d", db,
            "-f", "-",
        ],
        input=sql, capture_output=True, text=True, env=_clean_env(), timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"psql failed: {proc.stderr}\n{cluster.log_tail()}"
    return proc.stdout, proc.stderr


@pytest.fixture(scope="module", params=MAJORS, ids=lambda m: f"pg{m}")
def server(request: pytest.FixtureRequest) -> Iterator[PgCluster]:
    with PgCluster(request.param, conf_extra=CONF) as cluster:
        yield cluster


# --------------------------------------------------------------------------- CREATE INDEX workers

#: (maintenance_work_mem MB, min_parallel_table_scan_size in pages, table parallel_workers)
INDEX_CASES = [
    (63, 0, None),  # under 64MB: serial
    (64, 0, None),  # 1 worker, whatever max_parallel_maintenance_workers says
    (96, 0, None),
    (128, 0, None),
    (160, 0, None),  # 4 = max_parallel_maintenance_workers
    (160, 1024, None),  # the table (under 8MB) is too small for the default threshold
    (64, 0, 3),  # a table's parallel_workers overrides the memory cut
]


def test_create_index_workers_requested(server: PgCluster) -> None:
    _session(
        server,
        "CREATE TABLE ib AS SELECT (i * 7919) % 100003 AS a, i AS b "
        "FROM generate_series(1, 20000) i; VACUUM ANALYZE ib;",
    )
    pages = int(_session(server, "SELECT pg_relation_size('ib') / 8192")[0])
    script = ["SET client_min_messages = debug1;", "SET max_parallel_maintenance_workers = 4;"]
    expected: dict[str, int] = {}
    for n, (mwm, min_pages, reloption) in enumerate(INDEX_CASES):
        name = f"ib_{n}"
        script.append(f"SET maintenance_work_mem = '{mwm}MB';")
        script.append(f"SET min_parallel_table_scan_size = {min_pages};")
        if reloption is not None:
            script.append(f"ALTER TABLE ib SET (parallel_workers = {reloption});")
        script.append(f"CREATE INDEX {name} ON ib (a);")
        if reloption is not None:
            script.append("ALTER TABLE ib RESET (parallel_workers);")
        expected[name] = index_build.create_index_workers(
            mwm * 1024,
            4,
            pages,
            min_parallel_table_scan_pages=min_pages,
            table_parallel_workers=reloption,
        )
    _, stderr = _session(server, "\n".join(script))
    seen = {m.group(1): int(m.group(2) or 0) for m in _BUILDING.finditer(stderr)}
    assert seen == expected, stderr
    # the cases above exercise every branch of the rule
    assert sorted(set(expected.values())) == [0, 1, 2, 3, 4]


def test_maintenance_mem_for_workers_is_the_inverse() -> None:
    for workers in range(0, 9):
        need = index_build.maintenance_mem_for_workers(workers)
        assert index_build.create_index_workers(need, workers) == workers
        if workers:
            assert index_build.create_index_workers(need - 1, workers) == workers - 1


# --------------------------------------------------------------------------- sorts

SORT_ROWS = 100_000
#: columns a int4, b int8, c int8: 24 bytes of aligned data, a 40-byte MinimalTuple
SORT_TUPLE = sort.minimal_tuple_bytes(24)
SORT_QUERY = "SELECT sum(a + b + c) FROM (SELECT a, b, c FROM st ORDER BY a OFFSET 0) q;"
_TEMP_FILE = re.compile(r"temporary file: path \"[^\"]+\", size (\d+)")


def _temp_bytes(cluster: PgCluster) -> int:
    out, _ = _session(
        cluster, "SELECT coalesce(sum(temp_bytes), 0) FROM pg_stat_database WHERE datname = 'sortdb'"
    )
    return int(out)


def test_sort_spills_and_merges_as_modelled(server: PgCluster) -> None:
    major = server.major
    _session(server, "CREATE DATABASE sortdb;")
    _session(
        server,
        # work_mem large enough that generate_series' tuplestore does not spill: on 13-14 the
        # statistics collector could report that temp file after `before` is read
        f"SET work_mem = '64MB'; "
        f"CREATE TABLE st AS SELECT ((i * 7919) % 1000003)::int4 AS a, i::int8 AS b, 1::int8 AS c "
        f"FROM generate_series(1, {SORT_ROWS}) i; VACUUM ANALYZE st;",
        db="sortdb",
    )
    before = _temp_bytes(server)
    spilled_bytes = 0
    for work_mem_kb in (65536, 4096, 64):
        _, stderr = _session(
            server,
            "SET max_parallel_workers_per_gather = 0; SET trace_sort = on; "
            "SET log_temp_files = 0; SET client_min_messages = log; "
            f"SET work_mem = '{work_mem_kb}kB'; {SORT_QUERY}",
            db="sortdb",
        )
        lines = stderr.splitlines()
        trace = sort.parse_trace_sort(lines, major)
        files = [int(m.group(1)) for m in _TEMP_FILE.finditer(stderr)]
        predicted = sort.sort_spills(SORT_ROWS, SORT_TUPLE, work_mem_kb, major)
        assert trace.spilled == predicted, stderr
        if not predicted:
            model = sort.sort_memory_bytes(SORT_ROWS, SORT_TUPLE, major)
            assert trace.kb_used == -(-model // 1024), stderr
            assert files == [], stderr
            continue
        assert trace.tapes == sort.tapes(work_mem_kb, major), stderr
        assert trace.runs > 1
        assert trace.merge == sort.merge_plan(trace.runs, trace.tapes, major), stderr
        assert files and trace.disk_blocks, stderr
        spilled_bytes += sum(files)
    # the smallest work_mem needs more than one pass (15+) / intermediate merge steps (13-14)
    assert trace.merge.steps and (major < 15 or len(trace.merge.steps) >= 2)
    # pg_stat_database counts exactly the spilled sorts' temp files (the in-memory sort adds none);
    # statistics reach it asynchronously, so wait for them (a bounded wait, not a timing)
    deadline = time.monotonic() + 20
    while (grown := _temp_bytes(server) - before) < spilled_bytes and time.monotonic() < deadline:
        time.sleep(0.2)
    assert grown == spilled_bytes


@pytest.mark.parametrize(
    ("runs", "tape_count", "major", "steps", "final"),
    [
        (1, 6, 17, (), None),
        (5, 6, 17, (5,), 5),
        (74, 6, 17, (74, 13, 3), 3),
        (5, 7, 13, (), 5),  # fewer runs than input tapes: only the final merge
        (7, 7, 13, (2,), 6),
    ],
)
def test_merge_plan_examples(
    runs: int, tape_count: int, major: int, steps: tuple[int, ...], final: int | None
) -> None:
    plan = sort.merge_plan(runs, tape_count, major)
    assert (plan.steps, plan.final_ways) == (steps, final)
