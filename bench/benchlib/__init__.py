"""The code behind ``bench/tuning.py`` (run that script; its docstring describes the method).

Modules, by what they do; each imports only modules listed above it (no import cycles):

- ``server``: the throwaway PostgreSQL cluster each candidate runs on
- ``host``: the machine's inputs for the tuners (RAM, CPUs) and the report's machine lines
- ``candidates``: the configs compared (defaults, PGTune, pgforge, ablations, variants)
- ``workloads``: the data sets and the measured operations (pgbench, queries, COPY, VACUUM)
- ``report``: raw records, medians and ratios, the Markdown section and the chart
- ``runner``: interleaved rounds of measurements, with load and outside-CPU sampling
- ``diagnose``: ``--diagnose-sort``, why a bigger work_mem can make a large sort slower

``pgtune_equiv`` (next to ``tuning.py``) must be importable: ``tuning.py`` puts ``bench/`` on
``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
