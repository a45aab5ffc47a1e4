"""What an apply will change, and choosing what to write.

A plan (:class:`ApplyPlan`) is computed first and carried out only on request. It lists the files
to create or replace (:class:`FileChange`) or the ALTER SYSTEM statements to run, and the settings
whose effective value changes (:class:`SettingChange`), each saying whether it needs a restart or
only a reload (the catalog's context). It also says which settings were left out and why
(:func:`select_settings`): the site settings (``listen_addresses``, ``port``, ``timezone``...) an
existing cluster already has are not touched unless asked, and a library missing from the
server's ``$libdir`` is never added to ``shared_preload_libraries``, which would stop the server
at its next start. :func:`render_dropin` is the text of pgforge's drop-in file.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgforge import __version__
from pgforge.apply.values import split_list
from pgforge.tuning import Setting, Tuning

#: Settings that describe the site rather than the load: an existing cluster already has them and
#: changing them moves clients (port, listen_addresses) or timestamps (timezone). Left out unless
#: the caller asks for them.
SITE_SETTINGS = ("listen_addresses", "port", "timezone", "log_timezone", "lc_messages")


@dataclass(frozen=True)
class FileChange:
    """One file to create or replace. ``old`` is None for a file that does not exist yet."""

    path: Path
    old: bytes | None
    new: bytes
    mode: int
    uid: int
    gid: int

    @property
    def action(self) -> str:
        return "create" if self.old is None else "modify"

    def diff(self) -> str:
        old = (self.old or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        new = self.new.decode("utf-8", errors="replace").splitlines(keepends=True)
        before = "/dev/null" if self.old is None else f"a{self.path}"
        text = "".join(difflib.unified_diff(old, new, before, f"b{self.path}"))
        return text if text.endswith("\n") or not text else text + "\n\\ No newline at end of file\n"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "action": self.action, "diff": self.diff(),
                "before": (self.old or b"").decode("utf-8", errors="replace"),
                "after": self.new.decode("utf-8", errors="replace")}


@dataclass(frozen=True)
class SettingChange:
    """A setting whose effective value changes: from where, to what, and what that takes."""

    name: str
    old: str | None  # None: not set anywhere, the server default applies
    old_where: str  # "postgresql.conf:64", "conf.d/pgforge.conf:12" or "default"
    new: str
    action: str  # restart | reload

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ApplyPlan:
    """Everything :func:`execute` will do, and everything the user should know before it does."""

    mode: str  # data_dir | sql
    target: str  # data directory, or the connection's description
    settings: list[Setting]  # what the drop-in (or ALTER SYSTEM) carries
    changes: list[SettingChange]
    files: list[FileChange] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # sql mode
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    shadowed: list[tuple[str, str, str]] = field(default_factory=list)  # (name, where, value)
    warnings: list[str] = field(default_factory=list)
    new_dirs: list[Path] = field(default_factory=list)
    config_file: Path | None = None
    data_dir: Path | None = None
    dropin: Path | None = None
    sql_diff: str = ""
    previous_auto: dict[str, str | None] = field(default_factory=dict)  # sql mode: for rollback

    @property
    def noop(self) -> bool:
        return not self.files and not self.statements

    @property
    def restart(self) -> list[str]:
        return [c.name for c in self.changes if c.action == "restart"]

    @property
    def reload(self) -> list[str]:
        return [c.name for c in self.changes if c.action != "restart"]

    def diff(self) -> str:
        if self.mode == "sql":
            return self.sql_diff
        return "".join(f.diff() for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "target": self.target,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "config_file": str(self.config_file) if self.config_file else None,
            "dropin": str(self.dropin) if self.dropin else None,
            "changed": not self.noop,
            "files": [f.to_dict() for f in self.files],
            "statements": list(self.statements),
            "settings": [c.to_dict() for c in self.changes],
            "restart_required": bool(self.restart),
            "restart": self.restart,
            "reload": self.reload,
            "excluded": [{"name": n, "reason": r} for n, r in self.excluded],
            "shadowed": [{"name": n, "where": w, "value": v} for n, w, v in self.shadowed],
            "warnings": list(self.warnings),
        }


# --------------------------------------------------------------------------------------------
# Choosing what to write


def _library_file(libdir: Path, lib: str) -> bool:
    base = lib.removeprefix("$libdir/")
    return any((libdir / f"{base}{ext}").exists() for ext in (".so", ".dylib", ".dll", ""))


def select_settings(
    t: Tuning,
    *,
    existing: dict[str, str],
    include_site: bool = False,
    exclude: Iterable[str] = (),
    libdir: Path | None = None,
) -> tuple[list[Setting], list[tuple[str, str]], list[str]]:
    """The settings to write, the ones left out (with why), and warnings.

    ``existing`` maps names to the values set *outside* pgforge's own drop-in. Libraries already in
    ``shared_preload_libraries`` are kept (pgforge adds, never removes: dropping timescaledb from
    the list would break every database using it), and a library pgforge would add that is missing
    from ``libdir`` is left out together with its settings.
    """
    excluded: list[tuple[str, str]] = []
    warnings: list[str] = []
    skip = {n.strip().lower() for n in exclude if n.strip()}
    unknown = sorted(n for n in skip if t.get(n) is None)
    if unknown:
        warnings.append(f"--exclude names settings pgforge does not set: {', '.join(unknown)}")
    missing_libs: set[str] = set()
    out: list[Setting] = []
    for s in t.settings:
        if s.name in skip:
            excluded.append((s.name, "excluded on request"))
            continue
        if s.name in SITE_SETTINGS and not include_site:
            excluded.append((s.name, "site settings the cluster already has; --site applies them"))
            continue
        if s.name == "shared_preload_libraries":
            have = split_list(existing.get(s.name, ""))
            wanted = split_list(str(s.value))
            added = [lib for lib in wanted if lib not in have]
            if libdir is not None:
                for lib in added:
                    if not _library_file(libdir, lib):
                        missing_libs.add(lib)
                        warnings.append(f"{lib} is not installed in {libdir}: left out of shared_preload_libraries "
                                        f"(the server would refuse to start); install it and apply again")
            merged = have + [lib for lib in added if lib not in missing_libs]
            if not merged:
                excluded.append((s.name, "no library to preload"))
                continue
            if have and merged != wanted:
                warnings.append(f"shared_preload_libraries keeps what the cluster already loads: {', '.join(merged)}")
            s = dataclasses.replace(s, value=",".join(merged))
        out.append(s)
    if missing_libs:
        kept = []
        for s in out:
            prefix = s.name.split(".", 1)[0] if "." in s.name else None
            if prefix in missing_libs:
                excluded.append((s.name, f"{prefix} is not installed"))
            else:
                kept.append(s)
        out = kept
    return out, excluded, warnings


def render_dropin(t: Tuning, settings: Sequence[Setting], excluded: Sequence[tuple[str, str]]) -> str:
    """The drop-in file. Deterministic (no time stamp), so an unchanged tuning rewrites nothing."""
    from pgforge.units import format_bytes_human

    spec = t.spec
    who = f" for {spec.name}" if spec.name else ""
    lines = [
        f"# pgforge {__version__}: settings tuned{who}: {format_bytes_human(spec.memory)} RAM, {spec.cpus} CPUs, "
        f"{spec.storage.value}, {spec.workload.value}, PostgreSQL {spec.pg_version}",
        "# Written by `pgforge apply`: the next apply replaces this file and `pgforge apply --rollback`",
        "# restores what was here before. To override a value, set it in a file that sorts after this one",
        "# or with ALTER SYSTEM (postgresql.auto.conf is read last). [restart] marks settings that take",
        "# effect only when the server restarts; the rest apply on reload.",
    ]
    if excluded:
        lines.append("# Not set here: " + ", ".join(n for n, _ in excluded) + ".")
    for s in settings:
        lines.append("")
        lines.append(f"# {s.rationale}{' [restart]' if s.apply_action == 'restart' else ''}")
        lines.append(f"{s.name} = {s.text}")
    return "\n".join(lines) + "\n"
