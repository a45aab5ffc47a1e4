"""The ``pgbouncer:`` section: a connection pooler in front of the server."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pgforge.sections.base import IntLike, Section


class PgBouncerSpec(Section):
    enabled: bool = False
    pool_mode: Literal["session", "transaction", "statement"] = "transaction"
    databases: list[str] = Field(default_factory=list)
    client_connections: IntLike = Field(default=1000, ge=1, le=1_000_000)
    version: str = "1.18"
    listen_port: IntLike = Field(default=6432, ge=1, le=65535)
    tls: bool = False
