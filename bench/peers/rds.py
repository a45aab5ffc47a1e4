"""AWS RDS for PostgreSQL: the default parameter group's formulas, as a managed-cloud baseline.

Source: the values ``aws rds describe-db-parameters`` prints for a default ``postgresNN`` group,
quoted in Jignesh Shah, "Tuning DB Parameters for PostgreSQL 12 in Amazon RDS" (2019-09-08,
http://jkshah.blogspot.com/2019/09/tuning-db-parameters-for-postgresql-12.html):

- ``shared_buffers = {DBInstanceClassMemory/32768}`` (8kB pages: a quarter of the memory);
- ``effective_cache_size = {DBInstanceClassMemory/16384}`` (8kB pages: half of it);
- ``max_connections = LEAST({DBInstanceClassMemory/9531392},5000)``;
- ``maintenance_work_mem = GREATEST({DBInstanceClassMemory*1024/63963136},65536)`` (kB);
- ``autovacuum_max_workers = GREATEST({DBInstanceClassMemory/64371566592},3)``;
- ``work_mem`` is not set (PostgreSQL's 4MB default); the same listing leaves the WAL and
  parallel settings out, so they are not claimed here. AWS's RDS user guide
  (Appendix.PostgreSQL.CommonDBATasks.Parameters) says a default group ``default.postgresNN``
  applies when no custom group is chosen.

Assumption: ``DBInstanceClassMemory`` is the instance class's memory minus what the OS and RDS's
own processes reserve, which AWS does not publish per class; this module takes the host's whole
RAM, so its values are an upper bound (a few percent high). Bench-only.
"""

from __future__ import annotations

KB = 1024
PAGE = 8 * KB


def settings(memory: int) -> dict[str, float]:
    """The default parameter group's values for an instance with ``memory`` bytes (bytes, numbers)."""
    dbim = memory  # see the module docstring: an upper bound of DBInstanceClassMemory
    return {
        "max_connections": min(dbim // 9531392, 5000),
        "shared_buffers": dbim // 32768 * PAGE,
        "effective_cache_size": dbim // 16384 * PAGE,
        "work_mem": 4 * 1024 * KB,
        "maintenance_work_mem": max(dbim * 1024 // 63963136, 65536) * KB,
        "autovacuum_max_workers": max(dbim // 64371566592, 3),
    }
