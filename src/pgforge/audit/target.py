"""What one audit looks at: the files of one server (or a live server), its major, its host.

Checks read settings through :meth:`Target.get` and :meth:`Target.text`, which work the same for
parsed files and for a live server's ``pg_settings``, so a check is written once for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pgforge.parsers.pgconf import ConfSet, Setting

if TYPE_CHECKING:
    from pgforge.catalog import Catalog
    from pgforge.parsers.hba import HbaSet
    from pgforge.parsers.pgbouncer_ini import BouncerSet
    from pgforge.spec import HostSpec

LATEST_MAJOR = 18


@dataclass
class LiveInfo:
    """What a live server told us besides its settings."""

    dsn: str
    server_version: str
    hba_rules_visible: bool = False
    file_errors: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, error) from pg_file_settings


@dataclass
class Target:
    label: str
    conf: ConfSet | None = None
    hba: HbaSet | None = None
    bouncer: BouncerSet | None = None
    secret_files: list[Path] = field(default_factory=list)
    major: int | None = None
    major_source: str = ""
    spec: HostSpec | None = None
    # True when the spec is the desired state (--against/--profile): drift checks compare every
    # tuned setting; otherwise the spec only describes the host for performance checks.
    desired: bool = False
    live: LiveInfo | None = None
    # Settings of a live server (name -> Setting with the server's own file/line when known).
    live_settings: dict[str, Setting] | None = None

    # -- settings -------------------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Setting]:
        """Effective settings: the winning assignment of each name."""
        if self.live_settings is not None:
            return self.live_settings
        return self.conf.effective if self.conf else {}

    def get(self, name: str) -> Setting | None:
        return self.settings.get(name)

    def text(self, name: str) -> str | None:
        """The effective value text, or the target major's built-in default when not set."""
        s = self.get(name)
        if s is not None:
            return s.value
        guc = self.catalog.get(name) if self.catalog else None
        return default_text(guc) if guc else None

    @cached_property
    def bouncer_sections(self) -> dict[str, dict[str, Any]]:
        """pgbouncer.ini's winning entries, section -> key -> BouncerEntry (computed once: several
        checks read it, and BouncerSet.effective rebuilds it on every access)."""
        return self.bouncer.effective if self.bouncer is not None else {}

    @property
    def conf_path(self) -> str:
        return self.conf.root if self.conf else self.label

    # -- versions ---------------------------------------------------------------------------------
    @property
    def major_known(self) -> bool:
        return self.major is not None

    @cached_property
    def catalog(self) -> Catalog:
        from pgforge.catalog import load_catalog

        return load_catalog(self.major or LATEST_MAJOR)

    @cached_property
    def all_catalogs(self) -> dict[int, Catalog]:
        from pgforge.catalog import load_catalog
        from pgforge.spec import SUPPORTED_MAJORS

        return {m: load_catalog(m) for m in SUPPORTED_MAJORS}

    def anchor(self) -> Any:
        """Where to point a finding about a setting that is absent: the top of postgresql.conf."""
        from pgforge.audit.model import Where

        return Where(self.conf_path, 1 if self.conf else 0, 1 if self.conf else 0)


def default_text(guc) -> str:
    """A catalog default as the text a file would hold (base units, so it reads back exactly)."""
    return guc.boot_val
