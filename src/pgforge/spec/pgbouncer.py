"""The ``pgbouncer:`` section: a connection pooler in front of the server.

Pool sizes are not asked for: pgforge derives them from the CPUs and the server's connection
budget (src/pgforge/pooling.py). The databases must be named, because each one is its own pool
and the sum of the pools is what the server's max_connections has to hold.

PgBouncer in each layer: the ``pgbouncer:`` section is spec/pgbouncer.py; the pool plan and the
max_connections it sizes are rules/connections.py (with pooling.py's formulas); the files
(pgbouncer.ini, userlist.txt, the systemd drop-in) are bundle/pgbouncer.py, and its loopback
pg_hba.conf line bundle/pg_hba.py; the audit reads pgbouncer.ini with parsers/pgbouncer_ini.py and
judges it with PGF005 (audit/checks/validity.py), PGF210 (audit/checks/pgbouncer_security.py),
PGF212 (audit/checks/file_security.py) and PGF401 (audit/checks/coherence.py).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pgforge.spec.base import IntLike, Section
from pgforge.spec.grammar import HostOrIp, PgBouncerDbName, PgBouncerListen, PgBouncerVersion, RoleName, SafePath

#: Oldest PgBouncer pgforge writes for: Debian 12's 1.18, the one the tests run.
MIN_VERSION = (1, 18)

# PgBouncer 1.18 cannot quote database names in [databases] ("my db" = ... is a syntax error
# there), so only names its scanner takes bare are accepted (pgforge.spec.grammar.check_plain_db_name).
# ``pgbouncer`` is the admin console. Role names are pgforge.spec.grammar.check_role_name.


def parse_version(text: str) -> tuple[int, int, int]:
    """``"1.18"`` -> ``(1, 18, 0)``; raises ValueError on anything else."""
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not match:
        raise ValueError(f"PgBouncer version {text!r} is not MAJOR.MINOR[.PATCH] (such as 1.18 or 1.24.1)")
    return int(match[1]), int(match[2]), int(match[3] or 0)


class PgBouncerSpec(Section):
    """PgBouncer on the database host, reaching the server over loopback with SCRAM."""

    enabled: bool = False
    pool_mode: Literal["session", "transaction", "statement"] = "transaction"
    databases: list[PgBouncerDbName] = Field(default_factory=list)
    client_connections: IntLike = Field(default=1000, ge=1, le=1_000_000)
    version: PgBouncerVersion = "1.18"
    listen_addr: PgBouncerListen = "127.0.0.1"
    listen_port: IntLike = Field(default=6432, ge=1, le=65535)
    #: Per-database pool size when you know better than the CPU formula (pgforge still fits it
    #: to the server's connection budget and refuses nothing silently).
    pool_size: IntLike | None = Field(default=None, ge=1, le=10_000)
    #: Roles that log in through PgBouncer, listed in the userlist.txt template; by default the
    #: named users of the access lines for the pooled databases.
    users: list[RoleName] = Field(default_factory=list)
    admin_users: list[RoleName] = Field(default_factory=lambda: ["pgbouncer_admin"])
    stats_users: list[RoleName] = Field(default_factory=lambda: ["pgbouncer_stats"])
    #: Where PgBouncer finds the server. Loopback by default: PgBouncer runs beside PostgreSQL.
    server_host: HostOrIp = "127.0.0.1"
    tls: bool = False
    #: Absolute (PgBouncer resolves relative paths against its working directory, not the ini's folder).
    tls_cert_file: SafePath = "/etc/pgbouncer/tls/pgbouncer.crt"
    tls_key_file: SafePath = "/etc/pgbouncer/tls/pgbouncer.key"

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        parsed = parse_version(value)
        if parsed[:2] < MIN_VERSION:
            raise ValueError(f"PgBouncer {value} is older than {MIN_VERSION[0]}.{MIN_VERSION[1]}, the oldest pgforge "
                             "writes for (Debian 12 ships 1.18)")
        return value

    @field_validator("databases")
    @classmethod
    def _databases(cls, value: list[str]) -> list[str]:
        for name in value:
            if name == "pgbouncer":
                raise ValueError("'pgbouncer' is PgBouncer's admin console, not a database it can pool")
        if len(set(value)) != len(value):
            raise ValueError("a database is listed twice")
        return value

    @model_validator(mode="after")
    def _pools_named(self) -> PgBouncerSpec:
        if self.enabled and not self.databases:
            raise ValueError("pgbouncer is enabled but no databases are listed: name them (databases: [app]); each is "
                             "a pool, and pgforge sizes the server's max_connections from the pools")
        return self

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return parse_version(self.version)
