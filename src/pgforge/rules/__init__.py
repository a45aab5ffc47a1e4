"""The tuning rules. Importing this package registers every rule in ``REGISTRY``.

One module per topic, so a reader finds the memory rules in ``memory.py`` and the WAL rules in
``wal.py``; the evaluation order follows from what each rule asks of the others (context.py).
"""

from pgforge.rules import (  # noqa: F401
    aio, archive, autovacuum, connections, extensions, logs, memory, parallel, planner, replication, site, ssl, wal,
)
from pgforge.rules.base import REGISTRY, Kind, Recommendation, Rule

CATEGORY_ORDER = ("connections", "security", "memory", "wal", "planner", "parallel", "io", "autovacuum", "logging", "replication", "archive", "ssl", "extensions", "site")

__all__ = ["REGISTRY", "Kind", "Recommendation", "Rule", "CATEGORY_ORDER"]
