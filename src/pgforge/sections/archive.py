"""The ``archive:`` section: continuous WAL archiving for point-in-time recovery."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pgforge.sections.base import Section


class S3Target(Section):
    bucket: str = Field(min_length=3)
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None


class ArchiveSpec(Section):
    target: Literal["local", "s3", "pgbackrest", "wal-g"]
    local_dir: str | None = None
    s3: S3Target | None = None
    stanza: str = "main"
    archive_timeout: str = "5min"

    @model_validator(mode="after")
    def _target_details(self) -> ArchiveSpec:
        if self.target == "s3" and self.s3 is None:
            raise ValueError("archive target s3 needs an s3: {bucket: ..., prefix: ...} section")
        if self.target == "local" and not self.local_dir:
            raise ValueError("archive target local needs local_dir")
        return self
