"""The ``backup:`` section: logical dumps (``pg_dump -Fc`` per database plus globals) with retention.

Physical base backups pair with the WAL archive and are configured in the ``archive:`` section.

Logical backups in each layer: the ``backup:`` section is spec/backup.py; they drive no GUC value
(no module in rules/); the files (backup script, restore script, cron entry) are bundle/backup.py,
sharing the S3 store with bundle/archive.py; no audit check judges them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pgforge.spec.archive import DEFAULT_SCRIPTS_DIR, S3Target
from pgforge.spec.base import IntLike, Section
from pgforge.spec.grammar import CronSchedule, PlainDbName, SafePath


class BackupSpec(Section):
    """Where dumps go (``<local_dir or prefix>/<UTC stamp>/<db>.dump``), how long they stay, when they run.

    ``databases`` empty means every database that accepts connections, listed when the script runs.
    """

    target: Literal["local", "s3"]
    local_dir: SafePath | None = None
    s3: S3Target | None = None
    retention_days: IntLike = Field(default=14, ge=1, le=3650)
    #: They become file and object names, so they stay plain (pgforge.spec.grammar.check_plain_db_name).
    databases: list[PlainDbName] = Field(default_factory=list)
    schedule: CronSchedule = "30 2 * * *"
    scripts_dir: SafePath = DEFAULT_SCRIPTS_DIR
    restore_jobs: IntLike = Field(default=2, ge=1, le=64)

    @field_validator("databases")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _target_details(self) -> BackupSpec:
        if self.target == "s3" and self.s3 is None:
            raise ValueError("backup target s3 needs an s3: {bucket: ..., prefix: ...} section")
        if self.target == "local" and not self.local_dir:
            raise ValueError("backup target local needs local_dir")
        return self

    def location(self) -> str:
        if self.target == "local":
            return str(self.local_dir)
        assert self.s3 is not None
        return self.s3.url()
