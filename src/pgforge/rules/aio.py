"""PostgreSQL 18 asynchronous I/O: io_method and io_workers (absent before 18, so never emitted)."""

from __future__ import annotations

from pgforge.rules.base import PG_DOCS_RESOURCES, Kind, Recommendation, rule
from pgforge.rules.context import Context


@rule("io_method", Kind.enum, "io", tolerance=0.0)
def io_method(ctx: Context) -> Recommendation:
    """How PostgreSQL 18 issues asynchronous I/O.

    ``io_uring`` only when the spec's ``pg_build`` says the target was built with liburing (the
    server refuses the value otherwise, and containers often block io_uring in seccomp);
    ``worker``, which every build has, everywhere else.
    """
    if ctx.spec.pg_build.io_uring and ctx.spec.os.value == "linux":
        return ctx.make("io_method", "io_uring", "io_uring: the target build has liburing; fewer context switches",
                        PG_DOCS_RESOURCES, io_uring=True)
    return ctx.make("io_method", "worker",
                    "worker: every build supports it; io_uring needs --with-liburing (set pg_build.io_uring: true)",
                    PG_DOCS_RESOURCES, io_uring=ctx.spec.pg_build.io_uring)


@rule("io_workers", Kind.integer, "io", tolerance=0.0)
def io_workers(ctx: Context) -> Recommendation | None:
    """I/O worker processes for ``io_method = worker``: a quarter of the CPUs, between the
    default 3 and 32. Not emitted with io_uring, where it has no effect."""
    if ctx.value("io_method") != "worker":
        return None
    value = min(max(3, ctx.cpus // 4), 32)
    return ctx.make("io_workers", value, f"a quarter of {ctx.cpus} CPUs within 3..32", PG_DOCS_RESOURCES, cpus=ctx.cpus)
