"""Other tuners' published formulas, restated so bench/host_matrix.py can set pgforge beside them.

One module per peer, each citing the section of ``/work/shared/research/tuning-anchors.md`` and
the upstream file and commit its formulas were read from:

- :mod:`peers.timescaledb_tune`: timescale/timescaledb-tune (anchors §2);
- :mod:`peers.pgconfig`: pgconfig.org, pgconfig/api (anchors §3);
- :mod:`peers.rds`: AWS RDS for PostgreSQL's default parameter-group formulas.

PGTune's counterpart is bench/pgtune_equiv.py (anchors §1), older than this package and reused as is.
Every ``settings`` function returns ``{guc: value}`` in pgforge's rule form (memory in bytes, time
in milliseconds, numbers as numbers), only for the settings the peer writes: a missing key means
the peer leaves PostgreSQL's default. Bench-only: pgforge itself never imports these modules.
"""
