"""Memory rules: shared_buffers, effective_cache_size, work_mem, hash_mem_multiplier,
maintenance_work_mem, autovacuum_work_mem, huge_pages, wal_buffers.

More memory is not always faster. On this project's bench host (2 vCPU, 24 GB, PostgreSQL 17,
docs/benchmarks.md) work_mem of 16-64MB made a 4M-row ORDER BY 0.83-0.92x the speed of the 4MB
default (the planner dropped its parallel sort) and a 1M-group hash aggregate 0.68-0.86x (8MB:
0.77x; hash tables larger than the 32 MB L3 cache), while spilled temp files stayed in the page cache and
cost little; maintenance_work_mem above 64MB did not speed up CREATE INDEX or VACUUM of a
4M-row table. So per-operation memory stays small, and RAM goes to connections and the OS cache.
"""

from __future__ import annotations

from pgforge.budget import BUDGET_FRACTION, fixed_memory
from pgforge.rules.base import (
    MEASURED,
    PG_DOCS_KERNEL,
    PG_DOCS_QUERY,
    PG_DOCS_RESOURCES,
    PG_DOCS_WAL,
    Kind,
    Recommendation,
    Source,
    rule,
)
from pgforge.mechanics import index_build, vacuum
from pgforge.rules.context import Context
from pgforge.units import GB, KB, MB, clean_bytes, format_bytes_human as h

# Ceilings on the memory a single sort or hash may take. Measured (module docstring): every value
# above the 4MB default lost on at least one of the bench's sort and hash-aggregate workloads
# (8MB: hash aggregate 0.77x; 16-64MB: 0.68-0.92x on both), hash joins were unaffected. Kept per
# workload so that a measurement on other hardware can move one without the others.
WORK_MEM_CAP = {"web": 4 * MB, "oltp": 4 * MB, "mixed": 4 * MB, "dw": 4 * MB, "desktop": 4 * MB}
WORK_MEM_FLOOR = 4 * MB
# Sort/hash nodes a typical query runs at once (PGTune's factor; tuning-anchors.md §1.3).
NODES_PER_QUERY = 3
MAINTENANCE_CAP = {"web": 64 * MB, "oltp": 64 * MB, "mixed": 64 * MB, "dw": 64 * MB, "desktop": 64 * MB}


@rule("shared_buffers", Kind.memory, "memory", tolerance=0.3)
def shared_buffers(ctx: Context) -> Recommendation:
    """PostgreSQL's own page cache.

    A quarter of RAM is the documented starting point on a dedicated server: PostgreSQL reads
    through the OS cache as well, so a larger share mostly double-caches pages and lengthens
    checkpoints. A desktop shares the machine with other programs and gets 1/16. At least 32MB,
    so a tiny host still has a cache and room for connections in the budget.

    Measured on the bench host (PostgreSQL 17, 24GB, 6GB against the 128MB default): steady state
    neither gained nor lost (TPC-B 1.00x in a clean 5-round run; sorts, joins and index builds
    within noise), but the first query after a restart that reads a table into the cache ran
    0.82-0.92x (hash aggregate, CREATE INDEX): each page of a fresh shared-memory segment is
    faulted in on first use, while the default's small pool reads big tables through a ring
    buffer. That one-off cost after a restart is the price of a cache that holds the working set;
    huge pages shrink it (see huge_pages).
    """
    share, why = (1 / 16, "a desktop shares RAM with other programs") if ctx.workload == "desktop" else (
        1 / 4, "the documented starting point for a dedicated server; PostgreSQL also relies on the OS cache")
    value = clean_bytes(max(ctx.ram * share, 32 * MB))
    return ctx.make("shared_buffers", value, f"{share:.0%} of RAM ({h(value)} of {h(ctx.ram)}): {why}",
                    PG_DOCS_RESOURCES, memory=ctx.ram, workload=ctx.workload)


@rule("effective_cache_size", Kind.memory, "memory", tolerance=0.3)
def effective_cache_size(ctx: Context) -> Recommendation:
    """The planner's estimate of the data cached by PostgreSQL and the OS together.

    It allocates nothing; it makes index scans look cheaper when most of the data can be cached.
    Three quarters of RAM on a dedicated server (what is left after shared_buffers and work memory
    is mostly page cache); a quarter on a desktop.
    """
    share = 1 / 4 if ctx.workload == "desktop" else 3 / 4
    value = clean_bytes(ctx.ram * share)
    return ctx.make("effective_cache_size", value,
                    f"{share:.0%} of RAM: planner estimate of shared_buffers plus OS cache; allocates nothing",
                    PG_DOCS_QUERY, memory=ctx.ram, workload=ctx.workload)


@rule("maintenance_work_mem", Kind.memory, "memory", tolerance=0.5)
def maintenance_work_mem(ctx: Context) -> Recommendation:
    """Memory for CREATE INDEX, VACUUM and ALTER TABLE ADD FOREIGN KEY.

    The 64MB default, which was the fastest value measured: on the bench host (PostgreSQL 17,
    2 CPUs, so no parallel index build) CREATE INDEX on 4M rows ran 0.95-0.96x at 256MB and
    0.87-0.90x at 1536MB, and VACUUM showed no gain (temp files stay in the page cache). A larger
    value only buys fewer index passes when a VACUUM's dead-tuple list outgrows it, which
    PostgreSQL 17's TID store makes rare; raise it per session for a known huge index build.
    Tiny hosts get RAM/32, down to 16MB.

    Raised where the host wants parallel index builds: the planner gives every CREATE INDEX
    participant, the leader included, at least 32MB of it (planner.c, plan_create_index_workers,
    restated in src/pgforge/mechanics/index_build.py), so the W maintenance workers pgforge would
    set (max_parallel_maintenance_workers, from the CPUs) need (W + 1) x 32MB: 96MB for 2, 160MB
    for 4. That is a property of the server's code, so it holds on every host. It is raised only
    as far as the memory budget allows with the requested connections keeping their 4MB of work
    memory and every autovacuum worker its autovacuum_work_mem; max_parallel_maintenance_workers
    is then lowered to what this value allows. With W <= 1 (2 CPUs, like the bench host) nothing
    changes.
    """
    from pgforge.rules.parallel import cpu_maintenance_workers

    cap = MAINTENANCE_CAP[ctx.workload]
    floor = min(64 * MB, max(ctx.ram / 32, 16 * MB))
    base = clean_bytes(min(max(ctx.ram / 32, floor), cap))
    why = (f"RAM/32 within {h(floor)}..{h(cap)}: 64MB was fastest measured (256MB: CREATE INDEX 0.95x, "
           "1536MB: 0.87-0.90x); raise per session for a huge index build")
    workers = cpu_maintenance_workers(ctx)
    need = index_build.maintenance_mem_for_workers(workers) * KB
    if workers <= 1 or base >= need:
        return ctx.make("maintenance_work_mem", base, why, MEASURED, memory=ctx.ram, workload=ctx.workload,
                        maintenance_workers=workers)
    room = (int(ctx.ram * BUDGET_FRACTION) - ctx.value("shared_buffers")
            - ctx.value("autovacuum_max_workers") * _autovacuum_base(ctx)
            - ctx.spec.requested_connections * NODES_PER_QUERY * WORK_MEM_FLOOR)
    value = max(base, min(need, _mb_floor(room)))
    allowed = index_build.create_index_workers(value // KB, workers)
    mechanic = ("the planner gives each CREATE INDEX participant at least 32MB (planner.c plan_create_index_workers), "
                "a property of the server's code, so it holds on every host")
    if value >= need:
        why = (f"{h(value)} = ({workers} maintenance workers + leader) x 32MB: {mechanic}; below that the build runs "
               f"fewer workers; without parallel builds it would be {h(base)}, {why} (measured on 2 CPUs, where there are none)")
    else:
        why = (f"{h(value)}: {workers} maintenance workers would need {h(need)}, more than the memory budget allows "
               "(the requested connections keep their work memory), so max_parallel_maintenance_workers is lowered "
               f"to {allowed}: {mechanic}; without parallel builds it would be {h(base)}, {why} (measured on 2 CPUs, where there are none)")
    return ctx.make("maintenance_work_mem", value, why, INDEX_BUILD_SOURCE, memory=ctx.ram, workload=ctx.workload,
                    maintenance_workers=workers, allowed_workers=allowed)


INDEX_BUILD_SOURCE = Source("PostgreSQL's planner.c (plan_create_index_workers), restated in "
                            "src/pgforge/mechanics/index_build.py and proven by tests/test_mechanics_realpg.py; "
                            "the 64MB ceiling below it measured on the 2-CPU bench host (docs/benchmarks.md)")


def _mb_floor(nbytes: int) -> int:
    """Down to whole MB (0 when negative)."""
    return max(0, int(nbytes)) // MB * MB


#: Assumptions of sizing autovacuum_work_mem from a data size (13-16), stated in its rationale: the
#: largest table holds at most the whole data size (heap bytes, an upper bound), a row takes about
#: 100 bytes on disk (23-byte tuple header and 4-byte line pointer, aligned, plus ~70 bytes of
#: data), and the data-size classes mean at most RAM (less_than_ram, about_ram) or 4 x RAM (more_than_ram).
VACUUM_ROW_BYTES = 100
DATA_SIZE_CLASS_RAM = {"less_than_ram": 1, "about_ram": 1, "more_than_ram": 4}
#: All autovacuum workers together take at most this share of RAM for dead tuples.
VACUUM_RAM_SHARE = 1 / 8
#: Vacuum memory is useless above this before 17: the dead-tuple array is one palloc (MaxAllocSize).
VACUUM_MEMORY_CAP = GB


@rule("autovacuum_work_mem", Kind.memory, "memory", tolerance=0.5)
def autovacuum_work_mem(ctx: Context) -> Recommendation:
    """Memory each autovacuum worker uses to remember dead tuples.

    Set apart from maintenance_work_mem so that many workers cannot each take the index-build
    allowance. RAM/64 between 16MB and 256MB: 256MB holds about 44 million dead-tuple pointers
    (6 bytes each) before PostgreSQL 17, and 17's TID store packs far more.

    With a data size in the spec, on PostgreSQL 13-16, the value follows the server's mechanics
    (src/pgforge/mechanics/vacuum.py, from vacuumlazy.c): a VACUUM keeps 6 bytes per dead tuple
    and scans every index of the table once more each time that array fills, up to the 1GB cap
    (about 179 million tuples). pgforge sizes it so the largest table the data size implies
    (at most the whole data size, about 100 bytes a row; the classes less_than_ram and about_ram
    as RAM, more_than_ram as 4 x RAM) is vacuumed in one index pass when autovacuum triggers on it
    (autovacuum_vacuum_scale_factor of its rows), within 1GB and within the memory budget: all
    workers together take at most RAM/8, and the requested connections keep their 4MB of work
    memory. This is a property of the server's code, so it holds on every host, unlike the
    bench-host timings. It never goes below the value without a data size (a small table
    allocates only what its pages need, so a larger setting costs nothing there). 17+ keeps the
    value: the TID store holds a page's dead tuples in tens of bytes and has no 1GB cap.
    """
    base = _autovacuum_base(ctx)
    if ctx.spec.data_size is None:
        return ctx.make("autovacuum_work_mem", base,
                        f"RAM/64 within 16MB..256MB ({h(base)}), set apart so autovacuum workers cannot multiply maintenance_work_mem",
                        PG_DOCS_RESOURCES, memory=ctx.ram)
    if ctx.major >= vacuum.TIDSTORE_MAJOR:
        return ctx.make("autovacuum_work_mem", base,
                        f"RAM/64 within 16MB..256MB ({h(base)}); on PostgreSQL {ctx.major} the TID store (vacuumlazy.c) keeps "
                        f"a page's dead tuples in tens of bytes without the 1GB cap, so the data size {ctx.spec.data_size} "
                        "needs no more", VACUUM_SOURCE, memory=ctx.ram, data_size=ctx.spec.data_size, major=ctx.major)
    return _vacuum_memory_for_data(ctx, base)


def _autovacuum_base(ctx: Context) -> int:
    """autovacuum_work_mem without a data size: RAM/64 within 16MB..256MB (also the least it ever is)."""
    return clean_bytes(min(max(ctx.ram / 64, 16 * MB), 256 * MB))


VACUUM_SOURCE = Source("PostgreSQL's vacuumlazy.c and commands/vacuum.h, restated in src/pgforge/mechanics/vacuum.py "
                       "and counted by tests/test_mechanics_vacuum_realpg.py")


def _vacuum_memory_for_data(ctx: Context, base: int) -> Recommendation:
    """autovacuum_work_mem on 13-16 from the data size (see the rule's docstring)."""
    data = ctx.spec.data_bytes
    if data is None:
        data = int(ctx.ram * DATA_SIZE_CLASS_RAM[str(ctx.spec.data_size)])
    scale = float(ctx.value("autovacuum_vacuum_scale_factor"))
    rows = data // VACUUM_ROW_BYTES
    dead = int(50 + scale * rows)  # autovacuum_vacuum_threshold (50) + scale_factor x reltuples
    workers = int(ctx.value("autovacuum_max_workers"))
    room = (int(ctx.ram * BUDGET_FRACTION) - ctx.value("shared_buffers") - ctx.value("maintenance_work_mem")
            - ctx.spec.requested_connections * NODES_PER_QUERY * WORK_MEM_FLOOR)
    ceiling = clean_bytes(max(0, min(VACUUM_MEMORY_CAP, ctx.ram * VACUUM_RAM_SHARE / workers, room / workers)))
    needed = vacuum.memory_for_one_pass(dead, ctx.major)
    want = VACUUM_MEMORY_CAP if needed is None else _round_up_clean(needed)
    value = max(base, min(want, ceiling))
    passes = vacuum.index_passes(dead, value, ctx.major)
    why = (f"{h(value)}: on PostgreSQL {ctx.major} VACUUM keeps 6 bytes per dead tuple and rescans every index each time "
           f"they fill it (vacuumlazy.c); data size {ctx.spec.data_size} implies a largest table of at most "
           f"{rows:,} rows (~{VACUUM_ROW_BYTES} bytes each), autovacuum at {scale:g} of them = {dead:,} dead tuples")
    if passes <= 1:
        why += ", one index pass"
    else:
        why += f": {passes} index passes, as one would need " + (h(needed) if needed else "more than the 1GB cap")
        if value < want:
            why += (f" and the budget allows {h(value)} (all {workers} workers within RAM/8, the requested connections "
                    "keep their work memory)")
    why += "; a property of the server's code, so it holds on every host"
    return ctx.make("autovacuum_work_mem", value, why, VACUUM_SOURCE, memory=ctx.ram, data_size=ctx.spec.data_size,
                    major=ctx.major, dead_tuples=dead, index_passes=passes, workers=workers)


def _round_up_clean(nbytes: int) -> int:
    """Up to the next whole MB below 64MB, 16MB from there (the steps clean_bytes rounds down to)."""
    step = MB if nbytes < 64 * MB else 16 * MB
    return -(-nbytes // step) * step


def connection_memory(ctx: Context) -> int:
    """What the budget leaves for per-connection work memory, before connections are chosen."""
    fixed = fixed_memory(ctx.value("shared_buffers"), ctx.value("autovacuum_max_workers"),
                         ctx.value("autovacuum_work_mem"), ctx.value("maintenance_work_mem"))
    return int(ctx.ram * BUDGET_FRACTION) - fixed


@rule("work_mem", Kind.memory, "memory", tolerance=0.5)
def work_mem(ctx: Context) -> Recommendation:
    """Memory one sort or hash node may use before spilling to temporary files.

    The budget share (what is left after shared_buffers and maintenance memory, divided among
    the requested connections times three nodes per query, PGTune's factor), held to the 4MB
    default. The ceiling is measured: on the bench host 8MB made a 1M-group hash aggregate 0.77x
    as fast and 16-64MB made it 0.68-0.86x and a 4M-row ORDER BY 0.83-0.92x (the planner costs a
    serial external sort as cheaper and drops the parallel sort; hash tables outgrow the CPU's L3
    cache), while spills stayed in the page cache and cost little; hash joins showed no effect.
    A query known to need more memory raises it for itself: ``SET LOCAL work_mem = '256MB'``.
    When the budget share is below 4MB the connections are lowered instead (max_connections).
    """
    connections = ctx.spec.requested_connections
    available = connection_memory(ctx)
    share = available / (connections * NODES_PER_QUERY)
    cap = WORK_MEM_CAP[ctx.workload]
    value = clean_bytes(min(max(share, WORK_MEM_FLOOR), cap))
    return ctx.make("work_mem", value,
                    f"{h(value)}: larger values measured slower on big sorts and hash aggregates (8MB 0.77x, 16-64MB "
                    f"0.68-0.92x); the budget leaves {h(available)} for {connections} connections; raise per query with SET LOCAL",
                    MEASURED, connections=connections, available=available, workload=ctx.workload)


@rule("hash_mem_multiplier", Kind.real, "memory", tolerance=0.0)
def hash_mem_multiplier(ctx: Context) -> Recommendation | None:
    """How much more than work_mem a hash table may use.

    2.0, the default since PostgreSQL 15, on 13 and 14 too: hash aggregates and joins degrade
    sharply when they spill, sorts gently, so hashes deserve the larger allowance. Counted in the
    budget through the three-nodes-per-query factor of work_mem.
    """
    if ctx.major >= 15:
        return None
    return ctx.make("hash_mem_multiplier", 2.0,
                    "2.0 as PostgreSQL 15+ defaults: spilled hashes degrade much worse than spilled sorts",
                    PG_DOCS_RESOURCES, major=ctx.major)


@rule("huge_pages", Kind.enum, "memory", tolerance=0.0)
def huge_pages(ctx: Context) -> Recommendation:
    """Back shared memory with huge pages (Linux).

    ``try`` from 2GB of shared_buffers: fewer page-table entries and TLB misses for big shared
    memory, and the server still starts when the kernel has none reserved (``on`` would refuse).
    ``apply`` prints the ``vm.nr_hugepages`` line for the chosen size. Off on macOS, which has none.

    Measured on the bench host (PostgreSQL 17, 6GB shared_buffers, 3300 x 2MB pages reserved,
    3 rounds, against the same config with huge pages off): the first big read after a restart
    lost less to the defaults (CREATE INDEX after a COPY 0.99x instead of 0.73x, hash aggregate
    0.92x instead of 0.83x, text-key index 0.90x instead of 0.83x), while the COPY itself ran
    0.95x instead of 1.10x; steady state within noise (index builds 1.05-1.10x instead of
    0.95-0.98x). Reserving the pages is worth it for a big shared_buffers; ``try`` is what lets
    the same file start on a host that has not reserved them yet.
    """
    sb = ctx.value("shared_buffers")
    if ctx.spec.os.value == "macos":
        return ctx.make("huge_pages", "off", "macOS has no huge pages for PostgreSQL", PG_DOCS_KERNEL, os="macos")
    if sb >= 2 * GB:
        return ctx.make("huge_pages", "try",
                        f"shared_buffers {h(sb)} >= 2 GiB: huge pages cut page-table overhead; 'try' still starts without them",
                        PG_DOCS_KERNEL, shared_buffers=sb)
    return ctx.make("huge_pages", "try" if ctx.spec.os.value == "linux" else "off",
                    f"shared_buffers {h(sb)} is small: 'try' costs nothing when no huge pages are reserved",
                    PG_DOCS_KERNEL, shared_buffers=sb)


@rule("wal_buffers", Kind.memory, "memory", tolerance=0.5)
def wal_buffers(ctx: Context) -> Recommendation:
    """Shared memory for WAL not yet written to disk.

    1/32 of shared_buffers, at most one 16MB WAL segment, which is what the server's automatic
    setting (-1) picks; written out so the value is visible and auditable.
    """
    sb = ctx.value("shared_buffers")
    value = clean_bytes(min(max(sb / 32, 64 * 1024), 16 * MB), minimum=64 * 1024)
    return ctx.make("wal_buffers", value, f"shared_buffers/32 capped at one 16MB WAL segment ({h(value)})",
                    PG_DOCS_WAL, shared_buffers=sb)
