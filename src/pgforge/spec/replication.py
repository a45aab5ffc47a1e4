"""The ``replication:`` section: streaming replicas and logical replication.

Field names ``replicas`` and ``user`` are shared with pg_hba.conf generation (the replication lines
for each replica's host come from them), so they stay as they are.

Replication in each layer: the ``replication:`` section is spec/replication.py; the GUC values
(wal_level, senders, slots, the standby settings) are rules/replication.py; the files (primary
setup SQL, replica bootstrap scripts, the passfile shape, logical replication SQL) are
bundle/replication.py, and each replica's pg_hba.conf line bundle/pg_hba.py; the audit judges
replication with PGF402 (audit/checks/coherence.py) and PGF106 (audit/checks/durability.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pgforge.spec.base import IntLike, Section
from pgforge.spec.grammar import HostOrIp, PlainDbName, QualifiedTable, SafePath, SqlIdentifier


class Replica(Section):
    """A physical standby: its name is its replication slot, application_name and cluster_name."""

    name: SqlIdentifier
    host: HostOrIp
    port: IntLike = Field(default=5432, ge=1, le=65535)


class Publication(Section):
    """A logical-replication publication on the primary; ``tables`` empty publishes all tables."""

    name: SqlIdentifier
    database: PlainDbName = "postgres"
    tables: list[QualifiedTable] = Field(default_factory=list)

    @property
    def subscription(self) -> str:
        return f"{self.name}_sub"


class ReplicationSpec(Section):
    """Streaming replicas of this host (the primary), and logical publications when asked.

    ``primary_host`` is how replicas reach this server; when absent, the bootstrap scripts take it
    from the PRIMARY_HOST environment variable. ``passfile`` is the libpq password file on each
    replica (and subscriber) holding the replication user's password: it is never written inline.
    """

    replicas: list[Replica] = Field(default_factory=list)
    mode: Literal["async", "sync"] = "async"
    sync_count: IntLike = Field(default=1, ge=1)
    user: SqlIdentifier = "replicator"
    logical: bool = False
    publications: list[Publication] = Field(default_factory=list)
    primary_host: HostOrIp | None = None
    passfile: SafePath = "/var/lib/postgresql/.pgpass"
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None

    @field_validator("publications", mode="before")
    @classmethod
    def _names_as_publications(cls, value: object) -> object:
        """``publications: [app_pub]`` is shorthand for ``[{name: app_pub}]``."""
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReplicationSpec:
        names = [r.name for r in self.replicas]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"replica names must be unique (they name the replication slots): {', '.join(dupes)}")
        pubs = [p.name for p in self.publications]
        if len(set(pubs)) != len(pubs):
            raise ValueError("publication names must be unique")
        if self.mode == "sync":
            if not self.replicas:
                raise ValueError("mode sync needs at least one replica")
            if self.sync_count > len(self.replicas):
                raise ValueError(f"sync_count {self.sync_count} exceeds the {len(self.replicas)} replica(s): "
                                 "every commit would wait forever")
        return self

    def conn_sslmode(self, server_ssl: bool) -> str:
        """sslmode of replica and subscriber connections: the spec's, else ``require`` when the
        primary runs with ssl = on (replication traffic is the whole database), else ``prefer``."""
        if self.sslmode:
            return self.sslmode
        return "require" if server_ssl else "prefer"

    @property
    def wants_logical(self) -> bool:
        """Logical decoding is needed when asked for or when publications are listed."""
        return self.logical or bool(self.publications)
