"""The ``archive:`` section: continuous WAL archiving for point-in-time recovery.

The section is also where both directions of the archive are spelled: :meth:`ArchiveSpec.archive_command`
(postgresql.conf pushes WAL) and :meth:`ArchiveSpec.restore_command` (the recovery kit and the replicas
fetch it) are computed from the same fields, so the two can never point at different places.

Every path, bucket and prefix ends up inside shell commands and postgresql.conf strings, so they are
restricted to characters that need no quoting anywhere (no spaces, quotes or shell metacharacters).

The archive in each layer: the ``archive:`` section (and both directions of the archive) is
spec/archive.py; the GUC values (archive_mode, archive_command, archive_timeout) are
rules/archive.py; the files (archive script, base backups, pgBackRest/wal-g config, recovery kit)
are bundle/archive.py; the audit judges them with PGF105 (audit/checks/durability.py) and PGF403
(audit/checks/coherence.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from pgforge.spec.base import IntLike, Section
from pgforge.spec.grammar import AwsCli, Bucket, CronSchedule, EndpointUrl, S3Prefix, S3Region, SafePath, Stanza
from pgforge.units import UnitError, parse_pg_quantity

DEFAULT_SCRIPTS_DIR = "/usr/local/lib/pgforge"
#: pgBackRest's own default configuration path (https://pgbackrest.org/configuration.html#introduction).
DEFAULT_PGBACKREST_CONFIG = "/etc/pgbackrest/pgbackrest.conf"

class S3Target(Section):
    """A bucket and prefix, reached with the aws CLI (``aws s3 ...``) as the postgres OS user.

    ``endpoint_url`` points the CLI at an S3-compatible server (MinIO, Ceph, a test server);
    ``aws_cli`` is the CLI's path as the postgres user sees it. Credentials never appear in the
    bundle: the CLI finds them the usual way (instance role, or ~postgres/.aws/credentials, mode 0600).
    """

    bucket: Bucket
    prefix: S3Prefix = ""
    endpoint_url: EndpointUrl | None = None
    region: S3Region | None = None
    aws_cli: AwsCli = "aws"

    def key(self, *parts: str) -> str:
        """Object key under the prefix (no leading slash)."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p.strip("/"))

    def folder(self, *parts: str) -> str:
        """What every object key under :meth:`key` starts with: the key and a ``/``, or ``""`` for the
        bucket's top (``$folder$name`` is then an object key in the scripts)."""
        key = self.key(*parts)
        return f"{key}/" if key else ""

    def url(self, *parts: str) -> str:
        """``s3://bucket/prefix/parts...``"""
        return f"s3://{self.bucket}/{self.key(*parts)}"

    def cli_words(self) -> list[str]:
        """The aws CLI and this target's global options as separate words (the scripts quote each)."""
        words = [self.aws_cli]
        if self.endpoint_url:
            words += ["--endpoint-url", self.endpoint_url]
        if self.region:
            words += ["--region", self.region]
        return words

    def cli(self) -> str:
        """:meth:`cli_words` as one command prefix, words safe to use unquoted (restore_command)."""
        return " ".join(self.cli_words())


def _timeout_seconds(value: object) -> int:
    """archive_timeout as seconds: ``5min``, ``300s``, ``300`` (seconds, as postgresql.conf reads it)."""
    if isinstance(value, bool):
        raise ValueError("archive_timeout is a time such as 5min or 300s")
    if isinstance(value, (int, float)):
        seconds: float = value
    else:
        try:
            seconds = parse_pg_quantity(str(value), "s")
        except (UnitError, OverflowError) as exc:
            raise ValueError(str(exc)) from None
    # The range first: it also refuses inf, nan and integers too large for a float.
    if not 0 <= seconds <= 2_147_483_647 or seconds != int(seconds):
        raise ValueError("archive_timeout must be whole seconds between 0 and 2147483647")
    return int(seconds)


class ArchiveSpec(Section):
    """Where WAL goes, and where the physical base backups that pair with it go.

    For ``local`` and ``s3`` targets, WAL segments are stored directly under ``local_dir`` (or the
    S3 prefix) and base backups under its ``base/`` folder, one ``base/<UTC stamp>/`` each: a
    point-in-time recovery needs both, so they live together. ``pgbackrest`` and ``wal-g`` keep
    both in their own repository.
    """

    target: Literal["local", "s3", "pgbackrest", "wal-g"]
    local_dir: SafePath | None = None
    s3: S3Target | None = None
    stanza: Stanza = "main"
    #: Where archive/pgbackrest.conf is installed. Every pgbackrest call pgforge writes (the
    #: archive_command, the backup and restore scripts) names it with --config, so the server's
    #: archiver, cron and a restore all read the same file whatever the packaging's default is.
    pgbackrest_config: SafePath = DEFAULT_PGBACKREST_CONFIG
    archive_timeout: Annotated[int, BeforeValidator(_timeout_seconds)] = 300
    scripts_dir: SafePath = DEFAULT_SCRIPTS_DIR
    retention_days: IntLike = Field(default=14, ge=1, le=3650)
    base_backup_schedule: CronSchedule = "15 1 * * 0"
    data_directory: SafePath | None = None

    @model_validator(mode="after")
    def _target_details(self) -> ArchiveSpec:
        if self.target == "s3" and self.s3 is None:
            raise ValueError("archive target s3 needs an s3: {bucket: ..., prefix: ...} section")
        if self.target == "local" and not self.local_dir:
            raise ValueError("archive target local needs local_dir")
        return self

    # -- where things are ------------------------------------------------------------------
    def script(self, name: str) -> str:
        """Where the bundle's archive/recovery file ``name`` is installed (``scripts_dir``)."""
        return f"{self.scripts_dir}/{name}"

    @property
    def walg_config(self) -> str | None:
        """WAL-G's config file (written by pgforge when an s3 section says where the repository is)."""
        return self.script("walg.json") if self.target == "wal-g" and self.s3 else None

    def location(self) -> str:
        """Human-readable place of the WAL archive."""
        if self.target == "local":
            return str(self.local_dir)
        if self.target == "s3":
            assert self.s3 is not None
            return self.s3.url()
        if self.target == "pgbackrest":
            return f"the pgBackRest repository of stanza {self.stanza}"
        return self.s3.url() if self.s3 else "the WAL-G storage configured for the postgres user"

    @property
    def pgbackrest_args(self) -> list[str]:
        """The options every pgbackrest call needs: its config file and stanza, as separate words."""
        return [f"--config={self.pgbackrest_config}", f"--stanza={self.stanza}"]

    @property
    def pgbackrest_opts(self) -> str:
        """:attr:`pgbackrest_args` as one string of shell-safe words (archive_command, restore_command)."""
        return " ".join(self.pgbackrest_args)

    @property
    def pgbackrest(self) -> str:
        """The pgbackrest command with :attr:`pgbackrest_opts`."""
        return f"pgbackrest {self.pgbackrest_opts}"

    # -- the two directions ------------------------------------------------------------------
    def archive_command(self) -> str:
        """The archive_command for postgresql.conf (%p = WAL path, %f = file name)."""
        if self.target in ("local", "s3"):
            return f'{self.script("archive_wal.sh")} "%p" "%f"'
        if self.target == "pgbackrest":
            return f'{self.pgbackrest} archive-push "%p"'
        return f'{" ".join(self.walg_words)} wal-push "%p"'

    def restore_command(self) -> str:
        """The restore_command that reads back exactly what :meth:`archive_command` wrote."""
        if self.target == "local":
            return f'cp "{self.local_dir}/%f" "%p"'
        if self.target == "s3":
            assert self.s3 is not None
            return f'{self.s3.cli()} s3 cp --only-show-errors "{self.s3.url("%f")}" "%p"'
        if self.target == "pgbackrest":
            return f'{self.pgbackrest} archive-get "%f" "%p"'
        return f'{" ".join(self.walg_words)} wal-fetch "%f" "%p"'

    @property
    def walg_words(self) -> list[str]:
        """The wal-g command with its --config when pgforge writes one, as separate words."""
        return ["wal-g", "--config", self.walg_config] if self.walg_config else ["wal-g"]
