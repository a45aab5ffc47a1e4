"""Logging rules: slow statements, checkpoints, lock waits, temp files, autovacuum, line prefix,
and I/O timing."""

from __future__ import annotations

from pgforge.rules.base import PG_DOCS_LOGGING, PG_DOCS_RESOURCES, Kind, Recommendation, rule
from pgforge.rules.context import Context

SLOW_MS = {"web": 500, "oltp": 250, "mixed": 1000, "dw": 10_000, "desktop": 2000}


@rule("log_min_duration_statement", Kind.time, "logging", tolerance=1.0)
def log_min_duration_statement(ctx: Context) -> Recommendation:
    """Log statements slower than a workload threshold: oltp 250ms, web 500ms, mixed 1s,
    desktop 2s, dw 10s. Slow queries are found without logging every statement."""
    ms = SLOW_MS[ctx.workload]
    return ctx.make("log_min_duration_statement", ms, f"{ms}ms: slow for {ctx.workload}, rare enough to log",
                    PG_DOCS_LOGGING, workload=ctx.workload)


@rule("log_checkpoints", Kind.bool, "logging", tolerance=0.0)
def log_checkpoints(ctx: Context) -> Recommendation:
    """Log each checkpoint with its cause and timing (default on since 15): the evidence for
    tuning max_wal_size, one line every few minutes."""
    return ctx.make("log_checkpoints", True, "on: shows whether checkpoints are timed or forced by WAL volume", PG_DOCS_LOGGING)


@rule("log_lock_waits", Kind.bool, "logging", tolerance=0.0)
def log_lock_waits(ctx: Context) -> Recommendation:
    """Log waits longer than deadlock_timeout (1s): lock contention shows up with its queries."""
    return ctx.make("log_lock_waits", True, "on: lock waits over deadlock_timeout are logged with the blocked query", PG_DOCS_LOGGING)


@rule("log_temp_files", Kind.memory, "logging", tolerance=1.0)
def log_temp_files(ctx: Context) -> Recommendation:
    """Log temporary files from spilled sorts and hashes. Every spill for web and oltp (each one
    says work_mem was too small for a query); from 64MB for dw and mixed, where spills are routine."""
    value = 0 if ctx.workload in ("web", "oltp", "desktop") else 64 * 1024 * 1024
    return ctx.make("log_temp_files", value,
                    "0: every spill to disk is logged" if value == 0 else "64MB: only large spills; small ones are routine",
                    PG_DOCS_LOGGING, workload=ctx.workload)


@rule("log_autovacuum_min_duration", Kind.time, "logging", tolerance=1.0)
def log_autovacuum_min_duration(ctx: Context) -> Recommendation:
    """Log autovacuum runs longer than 10s: the slow ones show which tables need attention,
    without a line for every small table."""
    return ctx.make("log_autovacuum_min_duration", 10_000, "10s: long autovacuum runs point at tables to tune", PG_DOCS_LOGGING)


@rule("log_line_prefix", Kind.string, "logging", tolerance=0.0)
def log_line_prefix(ctx: Context) -> Recommendation:
    """Prefix of every log line: time with milliseconds, process id, and for sessions user,
    database and application, which pgBadger and people reading logs both need."""
    return ctx.make("log_line_prefix", "%m [%p] %q%u@%d app=%a ",
                    "time, pid, user@database and application on every session line", PG_DOCS_LOGGING)


@rule("track_io_timing", Kind.bool, "logging", tolerance=0.0)
def track_io_timing(ctx: Context) -> Recommendation:
    """Time I/O calls, so EXPLAIN (BUFFERS) and pg_stat_statements show I/O time. The clock
    read is cheap on current Linux (check with pg_test_timing)."""
    return ctx.make("track_io_timing", True, "on: I/O time in EXPLAIN and pg_stat_statements; clock reads are cheap on Linux",
                    PG_DOCS_RESOURCES)
