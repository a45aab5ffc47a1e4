"""The host description pgforge tunes for, as a pydantic v2 model.

Everything a rule may look at is here and nowhere else, so a rule's inputs are explicit and a
spec file, a profile, CLI flags, Terraform's string map and auto-detection all meet in one place.
Unknown keys are rejected (``extra="forbid"``): a typo such as ``memroy`` must not silently
fall back to a default.

Part of the spec layer (:mod:`pgforge.spec`, which re-exports these names): each optional section
is its own module beside this one (spec/access.py, spec/pgbouncer.py, spec/replication.py,
spec/archive.py, spec/backup.py), read by the rules (rules/, one module per topic) and written by
the bundle (bundle/, one module per file family).
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, field_validator

from pgforge.spec.access import AccessRule
from pgforge.spec.archive import ArchiveSpec
from pgforge.spec.backup import BackupSpec
from pgforge.spec.base import IntLike, Memory, Section
from pgforge.spec.grammar import DataSize, ListenAddress, Prose, ShortLine, TimeZone, data_size_bytes
from pgforge.spec.pgbouncer import PgBouncerSpec
from pgforge.spec.replication import ReplicationSpec

SUPPORTED_MAJORS = (13, 14, 15, 16, 17, 18)


class Storage(str, Enum):
    ssd = "ssd"
    nvme = "nvme"
    hdd = "hdd"
    san = "san"


class Workload(str, Enum):
    web = "web"
    oltp = "oltp"
    dw = "dw"
    mixed = "mixed"
    desktop = "desktop"


class OS(str, Enum):
    linux = "linux"
    windows = "windows"
    macos = "macos"


# Client connections a workload is sized for when the spec names none. PGTune's defaults
# (tuning-anchors.md §1.2) except OLTP: 300 direct connections on a typical 4-16 core OLTP box is
# the pattern a pooler exists to avoid, so pgforge starts from 200 and the budget may lower it.
DEFAULT_CONNECTIONS = {
    Workload.web: 200,
    Workload.oltp: 200,
    Workload.dw: 40,
    Workload.mixed: 100,
    Workload.desktop: 20,
}

# Extensions pgforge knows: whether the library must be preloaded, and its base name.
KNOWN_EXTENSIONS: dict[str, bool] = {
    "pg_stat_statements": True,
    "auto_explain": True,
    "pg_cron": True,
    "pg_partman": False,  # the optional background worker is pg_partman_bgw; see extensions rule
    "pg_partman_bgw": True,
    "vector": False,  # pgvector needs no preload; CREATE EXTENSION is enough
    "pg_trgm": False,
    "pgaudit": True,
    "pg_wait_sampling": True,
    "timescaledb": True,
}


class PgBuild(Section):
    """Optional build features of the target server. ``None`` means unknown: pgforge then emits
    only values every build accepts (the PostgreSQL 18 build used here lacks lz4 and io_uring)."""

    lz4: bool | None = None
    zstd: bool | None = None
    io_uring: bool | None = None


class HostSpec(Section):
    """A PostgreSQL host: hardware, workload, major version, and the bundle's optional sections."""

    # Both end up in comment lines of generated files: a line break would start a live setting there.
    name: ShortLine | None = None
    description: Prose | None = None
    memory: Memory = Field(description="RAM available to PostgreSQL: 16GB, 16GiB, 512MB, 7.5GB or bytes")
    cpus: IntLike = Field(ge=1, le=4096)
    storage: Storage = Storage.ssd
    workload: Workload = Workload.mixed
    pg_version: IntLike = 17
    connections: IntLike | None = Field(default=None, ge=5, le=100_000)
    os: OS = OS.linux
    extensions: list[str] = Field(default_factory=lambda: ["pg_stat_statements"])
    pg_build: PgBuild = Field(default_factory=PgBuild)
    wal_disk: Memory | None = Field(default=None, description="size of the WAL volume, bounds max_wal_size")
    data_size: DataSize | None = Field(
        default=None, description="data the cluster holds: bytes such as 2TB, or less_than_ram | about_ram | more_than_ram")
    listen_addresses: list[ListenAddress] | None = Field(
        default=None, description="addresses to listen on; default: localhost, or * when access/replicas need the network")
    port: IntLike = Field(default=5432, ge=1, le=65535)
    timezone: TimeZone = "UTC"

    pgbouncer: PgBouncerSpec | None = None
    access: list[AccessRule] = Field(default_factory=list)
    replication: ReplicationSpec | None = None
    archive: ArchiveSpec | None = None
    backup: BackupSpec | None = None

    @field_validator("memory")
    @classmethod
    def _enough_memory(cls, value: int) -> int:
        if value < 256 * 1024 * 1024:
            raise ValueError("at least 256MB is needed to run PostgreSQL with a useful configuration")
        if value > 64 * 1024**4:
            raise ValueError("more than 64TB is beyond what pgforge's rules were written for")
        return value

    @field_validator("wal_disk")
    @classmethod
    def _wal_disk(cls, value: int | None) -> int | None:
        if value is not None and value < 1024**3:
            raise ValueError("a WAL volume under 1GB cannot hold the WAL of a busy checkpoint interval; give at least 1GB")
        return value

    @field_validator("pg_version")
    @classmethod
    def _major(cls, value: int) -> int:
        if value not in SUPPORTED_MAJORS:
            raise ValueError(f"PostgreSQL {value} is not supported: choose one of {', '.join(map(str, SUPPORTED_MAJORS))}")
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in KNOWN_EXTENSIONS]
        if unknown:
            raise ValueError(f"unknown extension(s) {', '.join(map(repr, unknown))}: known are {', '.join(sorted(KNOWN_EXTENSIONS))}")
        return list(dict.fromkeys(value))

    @property
    def data_bytes(self) -> int | None:
        """The data size in bytes when the spec gives bytes; ``None`` for a class word or no data size."""
        return None if self.data_size is None else data_size_bytes(self.data_size)

    @property
    def requested_connections(self) -> int:
        return self.connections if self.connections is not None else DEFAULT_CONNECTIONS[self.workload]
