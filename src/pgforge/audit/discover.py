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
import stat
from dataclasses import dataclass
from pathlib import Path

from pgforge.audit.target import Target
from pgforge.errors import UserError
from pgforge.inputs import MAX_VERSION_FILE_BYTES, file_kind, read_bytes

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


def _head(path: Path, size: int = 4096) -> str | None:
    """The first ``size`` bytes of a regular file, or None (a FIFO is never opened for a blocking read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, size).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def _sniff(path: Path) -> str:
    head = _head(path)
    if head is None:
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
                text = read_bytes(pv, limit=MAX_VERSION_FILE_BYTES).decode("ascii").strip()
                if re.fullmatch(r"[0-9]{1,4}(?:\.[0-9]{1,4})?", text):
                    return _supported(int(text.split(".")[0]), pv), pv
            except (OSError, ValueError):
                pass
        manifest = os.path.join(d, "MANIFEST.json")
        if os.path.isfile(manifest):
            try:
                value = json.loads(read_bytes(manifest))["pg_version"]
                if isinstance(value, int) and not isinstance(value, bool):
                    return _supported(value, manifest), manifest
            except (OSError, ValueError, KeyError, TypeError, RecursionError):
                pass
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    m = _MAJOR_IN_PATH.search(os.path.abspath(path) + "/")
    if m and int(m.group(1)) in _supported_majors():  # /etc/postgresql/19/main: a guess, not a claim
        return int(m.group(1)), f"the path {path}"
    return None, ""


def _supported_majors() -> tuple[int, ...]:
    from pgforge.spec import SUPPORTED_MAJORS  # imported late: pydantic is slow to import

    return SUPPORTED_MAJORS


def _supported(major: int, source: str) -> int:
    """``major`` when pgforge has its catalog, else a UserError naming where it came from."""
    if major not in _supported_majors():
        majors = ", ".join(map(str, _supported_majors()))
        hint = "choose one of those" if source == "--pg-version" else "give --pg-version to audit the files as one of those"
        raise UserError(f"PostgreSQL {major} is not one pgforge audits ({majors}); {hint}", source)
    return major


@dataclass
class Found:
    kind: str
    path: Path


def _walk(paths: list[Path]) -> dict[Path, list[Found]]:
    by_dir: dict[Path, list[Found]] = {}
    for p in paths:
        try:
            mode = os.stat(p).st_mode
        except FileNotFoundError:
            raise UserError("no such file or directory", str(p)) from None
        except OSError as exc:
            raise UserError(f"cannot read: {exc.strerror or exc}", str(p)) from None
        if stat.S_ISREG(mode):
            kind = classify(p)
            if kind == OTHER:
                kind = _sniff(p)
            if kind == OTHER:
                raise UserError("not a postgresql.conf, pg_hba.conf or pgbouncer.ini (by its name or its first"
                                " lines); nothing to check", str(p))
            by_dir.setdefault(p.parent, []).append(Found(kind, p))
            continue
        if not stat.S_ISDIR(mode):
            raise UserError(f"is {file_kind(mode)}, not a configuration file or a directory of them", str(p))
        before = sum(len(v) for v in by_dir.values())
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
        if sum(len(v) for v in by_dir.values()) == before:
            raise UserError("no configuration files found here (postgresql.conf, postgresql.auto.conf,"
                            " pg_hba.conf, pgbouncer.ini or *.conf files that look like them)", str(p))
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
        t.major, t.major_source = _supported(major, "--pg-version"), "--pg-version"
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
