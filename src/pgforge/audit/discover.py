"""Paths on the command line to audit targets.

A directory is searched recursively; in each directory every postgresql.conf-like file is one
target, and the pg_hba.conf / pgbouncer.ini beside it join it when there is exactly one. What a
file is comes from its name, else from a sniff of its first lines. The major version comes from
``--pg-version``, a PG_VERSION file, a pgforge MANIFEST.json, or a Debian path like
``/etc/postgresql/17/main``; when none says, checks that depend on it stay cautious.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pgforge.audit.target import Target
from pgforge.errors import UserError

CONF, AUTO, HBA, BOUNCER, SECRET, OTHER = "conf", "auto", "hba", "bouncer", "secret", "other"
_MAJOR_IN_PATH = re.compile(r"/(1[3-9])/(?:main|[^/]+)(?:/|$)")
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv"}


def classify(path: Path) -> str:
    """What kind of file ``path`` is, by name first, then by a look at its content."""
    name = path.name.lower()
    if name.endswith("postgresql.auto.conf"):
        return AUTO
    if "hba" in name and name.endswith((".conf", ".txt")) or name == "pg_hba.conf":
        return HBA
    if "pgbouncer" in name and name.endswith(".ini"):
        return BOUNCER
    if name in ("userlist.txt", ".pgpass", "pgpass") or name.endswith((".pgpass", "userlist.txt")):
        return SECRET
    if name.endswith("postgresql.conf") or name.endswith(".conf") and "postgres" in name:
        return CONF
    if name.endswith((".conf", ".ini")):
        return _sniff(path)
    return OTHER


def _sniff(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", "replace")
    except OSError:
        return OTHER
    lines = [ln.strip() for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", ";"))]
    if any(ln.lower() in ("[pgbouncer]", "[databases]") for ln in lines):
        return BOUNCER
    if any(ln.startswith("[") for ln in lines):
        return OTHER  # another ini dialect (a systemd drop-in, a pgBackRest config)
    if lines and all(ln.split()[0] in ("local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc", "include",
                                       "include_dir", "include_if_exists") for ln in lines[:5]):
        return HBA
    if any("=" in ln for ln in lines[:20]):
        return CONF
    return OTHER


def _major_near(path: Path) -> tuple[int | None, str]:
    d = os.path.abspath(path)
    for _ in range(4):  # the directory and three parents
        pv = os.path.join(d, "PG_VERSION")
        if os.path.isfile(pv):
            try:
                with open(pv, encoding="utf-8") as handle:
                    return int(handle.read().strip().split(".")[0]), pv
            except (OSError, ValueError):
                pass
        manifest = os.path.join(d, "MANIFEST.json")
        if os.path.isfile(manifest):
            try:
                with open(manifest, encoding="utf-8") as handle:
                    return int(json.load(handle)["pg_version"]), manifest
            except (OSError, ValueError, KeyError, TypeError):
                pass
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    m = _MAJOR_IN_PATH.search(os.path.abspath(path) + "/")
    if m:
        return int(m.group(1)), f"the path {path}"
    return None, ""


@dataclass
class Found:
    kind: str
    path: Path


def _walk(paths: list[Path]) -> dict[Path, list[Found]]:
    by_dir: dict[Path, list[Found]] = {}
    for p in paths:
        if not p.exists():
            raise UserError("no such file or directory", str(p))
        if p.is_file():
            by_dir.setdefault(p.parent, []).append(Found(classify(p), p))
            continue
        for dirpath, dirnames, filenames in os.walk(p):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and d != "conf.d")
            here: list[Found] = []
            for fn in sorted(filenames):
                if ".bak-" in fn or fn.endswith((".j2", ".sample", "~")):
                    continue
                f = Path(os.path.join(dirpath, fn))  # faster than Path / str on a fleet of files
                kind = classify(f)
                if kind != OTHER:
                    here.append(Found(kind, f))
            if here:
                by_dir.setdefault(Path(dirpath), []).extend(here)
    return by_dir


def _fold_bundles(by_dir: dict[Path, list[Found]]) -> dict[Path, list[Found]]:
    """A pgforge bundle (a directory with MANIFEST.json) keeps pgbouncer.ini and userlist.txt in
    ``pgbouncer/``: they belong to the bundle's server, so they join its directory's group."""
    for d in [d for d in by_dir if d.name == "pgbouncer" and d.parent in by_dir]:
        if (d.parent / "MANIFEST.json").is_file():
            by_dir[d.parent].extend(by_dir.pop(d))
    return by_dir


def plan_groups(paths: list[Path], *, explicit_group: bool = False) -> list[list[Found]]:
    """The files of ``paths`` grouped into audit targets, without reading them (cheap, so a
    large fleet can be split over processes before any parsing)."""
    by_dir = _fold_bundles(_walk(paths))
    groups: list[list[Found]] = []
    if explicit_group:
        groups.append([f for fs in by_dir.values() for f in fs])
    else:
        for _, found in sorted(by_dir.items()):
            # One server's directory has at most one file of each kind (secrets aside): audit
            # them together. A directory of many configs (a corpus, a fleet dump) is many targets.
            kinds = [f.kind for f in found if f.kind != SECRET]
            if len(kinds) == len(set(kinds)):
                groups.append(found)
            else:
                groups.extend([f] for f in found)
    return [g for g in groups if g]


def load_group(group: list[Found], major: int | None = None) -> Target:
    """Parse one group's files into a Target. Raises UserError when a file cannot be read."""
    from pgforge.parsers.hba import load_hba
    from pgforge.parsers.pgbouncer_ini import load_pgbouncer_ini
    from pgforge.parsers.pgconf import load_pgconf

    first = group[0].path
    t = Target(label=str(first.parent if len(group) > 1 else first))
    if major is not None:
        t.major, t.major_source = major, "--pg-version"
    else:
        t.major, t.major_source = _major_near(first.parent)
    # postgresql.conf first: it reads the postgresql.auto.conf beside it, which is a target of
    # its own only when no postgresql.conf is there.
    for f in sorted(group, key=lambda f: f.kind == AUTO):
        try:
            if f.kind == CONF and t.conf is None:
                t.conf = load_pgconf(f.path)
            elif f.kind == AUTO and t.conf is None:
                t.conf = load_pgconf(f.path, auto_conf=False)
            elif f.kind == HBA and t.hba is None:
                t.hba = load_hba(f.path, before_pg16=bool(t.major and t.major < 16))
            elif f.kind == BOUNCER and t.bouncer is None:
                t.bouncer = load_pgbouncer_ini(f.path)
            elif f.kind == SECRET:
                t.secret_files.append(f.path)
        except OSError as exc:
            raise UserError(f"cannot read: {exc.strerror or exc}", str(f.path)) from None
    return t


def discover(paths: list[Path], *, major: int | None = None, explicit_group: bool = False) -> list[Target]:
    """Targets for ``paths``. With ``explicit_group`` (files named one by one) all files form one target."""
    return [load_group(g, major) for g in plan_groups(paths, explicit_group=explicit_group)]
