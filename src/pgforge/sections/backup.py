"""The ``backup:`` section: logical dumps and physical base backups, with retention."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pgforge.sections.archive import S3Target
from pgforge.sections.base import IntLike, Section


class BackupSpec(Section):
    target: Literal["local", "s3"]
    local_dir: str | None = None
    s3: S3Target | None = None
    retention_days: IntLike = Field(default=14, ge=1, le=3650)
    databases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _target_details(self) -> BackupSpec:
        if self.target == "s3" and self.s3 is None:
            raise ValueError("backup target s3 needs an s3: {bucket: ..., prefix: ...} section")
        if self.target == "local" and not self.local_dir:
            raise ValueError("backup target local needs local_dir")
        return self
