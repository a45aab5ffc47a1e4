"""PostgreSQL's own mechanics, restated from its source so rules can reason with them.

Each module mirrors one mechanism of the server and names the source file it follows; the
real-server tests (tests/test_mechanics*_realpg.py) prove each one with a counter the server
prints. The rules (src/pgforge/rules/) use them; they never decide a setting themselves.
Mechanics hold on every host, unlike timings: a measured speed is true of the machine it was
measured on, while the number of workers a CREATE INDEX may request or the index passes a VACUUM
needs follow from the settings and the data alone, so they can be stated for hosts no bench ran.
Each function cites the PostgreSQL source it mirrors.

- :mod:`pgforge.mechanics.index_build`: workers a parallel CREATE INDEX can request; for the
  coherence of maintenance_work_mem with max_parallel_maintenance_workers (rule and audit).
- :mod:`pgforge.mechanics.sort`: a sort's memory, runs and merge passes; for sort memory
  (work_mem, and maintenance_work_mem for index builds) against the data size.
- :mod:`pgforge.mechanics.vacuum`: VACUUM's dead-tuple memory and its index passes.
"""
