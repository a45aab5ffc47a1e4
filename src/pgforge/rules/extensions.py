"""Extensions: shared_preload_libraries and each extension's own settings."""

from __future__ import annotations

from pgforge.rules.base import Kind, Recommendation, Source, rule
from pgforge.rules.context import Context
from pgforge.spec import KNOWN_EXTENSIONS

# Contexts the extensions declare for their settings (not in pg_settings until the library loads).
EXTENSION_CONTEXTS = {
    "pg_stat_statements.max": "postmaster",
    "pg_stat_statements.track": "superuser",
    "auto_explain.log_min_duration": "superuser",
    "auto_explain.log_analyze": "superuser",
    "cron.database_name": "postmaster",
}
EXT_DOCS = Source("PostgreSQL docs, Appendix F (pg_stat_statements, auto_explain) and each extension's README")


def _enabled(ctx: Context, ext: str) -> bool:
    return ext in ctx.spec.extensions


@rule("shared_preload_libraries", Kind.string, "extensions", tolerance=0.0)
def shared_preload_libraries(ctx: Context) -> Recommendation | None:
    """Libraries loaded at server start: those of the spec's extensions that need preloading
    (pg_stat_statements, auto_explain, pg_cron, ...). pgvector and pg_trgm need none. Changing
    it needs a restart; the library must be installed or the server will not start.

    pg_stat_statements is in the default spec: it is what a DBA reads first when a server is
    slow, and it cannot be turned on later without a restart. Its cost, measured on the bench
    host (PostgreSQL 17, pgbench TPC-B, 2 CPUs, 4 rounds): pgforge's config 1.01x the defaults'
    TPS with it (and track_io_timing), 1.03x without, about 2% and inside the noise. A spec with
    ``extensions: []`` leaves it out."""
    libs = [e for e in ctx.spec.extensions if KNOWN_EXTENSIONS.get(e)]
    if not libs:
        return None
    return ctx.make("shared_preload_libraries", ",".join(libs),
                    f"preloaded for {', '.join(libs)} (install the packages first: the server will not start without them)",
                    EXT_DOCS, extensions=list(ctx.spec.extensions))


@rule("pg_stat_statements.max", Kind.integer, "extensions", tolerance=0.5)
def pg_stat_statements_max(ctx: Context) -> Recommendation | None:
    """Distinct statements tracked: 10000 (the default 5000 evicts entries on busy apps, and
    eviction churn skews the statistics)."""
    if not _enabled(ctx, "pg_stat_statements"):
        return None
    return ctx.make("pg_stat_statements.max", 10000, "10000 statements: fewer evictions on busy applications", EXT_DOCS)


@rule("pg_stat_statements.track", Kind.enum, "extensions", tolerance=0.0)
def pg_stat_statements_track(ctx: Context) -> Recommendation | None:
    """Track top-level statements (the default), so totals are not double-counted through functions."""
    if not _enabled(ctx, "pg_stat_statements"):
        return None
    return ctx.make("pg_stat_statements.track", "top", "top: statements issued by clients, no double counting", EXT_DOCS)


@rule("auto_explain.log_min_duration", Kind.time, "extensions", tolerance=1.0)
def auto_explain_log_min_duration(ctx: Context) -> Recommendation | None:
    """Log the plan of statements slower than twice the slow-statement threshold, so the slowest
    queries arrive with their plans."""
    if not _enabled(ctx, "auto_explain"):
        return None
    ms = max(1000, ctx.value("log_min_duration_statement") * 2)
    return ctx.make("auto_explain.log_min_duration", ms, f"{ms}ms: plans of the slowest statements", EXT_DOCS)


@rule("auto_explain.log_analyze", Kind.bool, "extensions", tolerance=0.0)
def auto_explain_log_analyze(ctx: Context) -> Recommendation | None:
    """Off: ANALYZE timing instruments every statement, not just the logged ones."""
    if not _enabled(ctx, "auto_explain"):
        return None
    return ctx.make("auto_explain.log_analyze", False, "off: timing every node of every statement costs throughput", EXT_DOCS)


@rule("cron.database_name", Kind.string, "extensions", tolerance=0.0)
def cron_database_name(ctx: Context) -> Recommendation | None:
    """The database pg_cron keeps its job table in: postgres."""
    if not _enabled(ctx, "pg_cron"):
        return None
    return ctx.make("cron.database_name", "postgres", "jobs live in the postgres database", EXT_DOCS)
