"""The ``replication:`` section: streaming replicas and logical replication."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pgforge.sections.base import IntLike, Section


class Replica(Section):
    name: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    host: str
    port: IntLike = Field(default=5432, ge=1, le=65535)


class ReplicationSpec(Section):
    replicas: list[Replica] = Field(default_factory=list)
    mode: Literal["async", "sync"] = "async"
    user: str = "replicator"
    logical: bool = False
    publications: list[str] = Field(default_factory=list)
