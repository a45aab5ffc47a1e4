"""The spec layer: what a host is, as the user describes it, validated where it enters.

* :mod:`~pgforge.spec.host` -- :class:`HostSpec` (hardware, workload, major, listen addresses) and
  its vocabulary (:data:`SUPPORTED_MAJORS`, :class:`Storage`, :class:`Workload`, :class:`OS`,
  :data:`DEFAULT_CONNECTIONS`, :data:`KNOWN_EXTENSIONS`, :class:`PgBuild`);
* one module per optional section, so each file family owns its input model:
  :mod:`~pgforge.spec.access` (pg_hba.conf lines), :mod:`~pgforge.spec.pgbouncer`,
  :mod:`~pgforge.spec.replication`, :mod:`~pgforge.spec.archive`, :mod:`~pgforge.spec.backup`,
  on the strict base class and lenient scalars of :mod:`~pgforge.spec.base`;
* :mod:`~pgforge.spec.grammar` -- what each kind of string field may hold (the first of the two
  layers against hostile input; the second is :mod:`pgforge.render.escape`);
* :mod:`~pgforge.spec.load` -- a HostSpec built from a profile, a spec file and flags, with errors
  naming file:line.

Counterparts in the other layers, one module per topic each: the GUC values a spec drives are
``pgforge.rules`` (rules/replication.py, rules/archive.py, rules/ssl.py, rules/connections.py), the
files it becomes are ``pgforge.bundle`` (bundle/replication.py, bundle/archive.py,
bundle/pg_hba.py, bundle/pgbouncer.py, bundle/backup.py), and the audit judging such files is
``pgforge.audit.checks``.

The names of :mod:`~pgforge.spec.host` are re-exported here lazily (PEP 562), so that
``from pgforge.spec import HostSpec`` works while importing :mod:`pgforge.spec.load` alone (the
profile list, the merge of spec files) imports neither pydantic nor the models (start-up time:
bench/generate_speed.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - names re-exported lazily below
    from pgforge.spec.host import (
        DEFAULT_CONNECTIONS,
        KNOWN_EXTENSIONS,
        OS,
        SUPPORTED_MAJORS,
        HostSpec,
        PgBuild,
        Storage,
        Workload,
    )

__all__ = ["DEFAULT_CONNECTIONS", "KNOWN_EXTENSIONS", "OS", "SUPPORTED_MAJORS", "HostSpec", "PgBuild", "Storage",
           "Workload"]


def __getattr__(name: str):
    if name in __all__:
        from pgforge.spec import host

        return getattr(host, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
