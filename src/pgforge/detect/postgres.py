"""The PostgreSQL cluster on this host: data directory, major version and build options.

Precedence, first match wins:

* ``data_dir``: the explicit argument (``--data-dir``) > ``PGDATA`` in the given environment > a
  running postmaster (``/proc/<pid>/cmdline``: ``-c data_directory=``, then ``-D``, then
  ``PGDATA`` in ``/proc/<pid>/environ``) > ``pg_lsclusters`` (an online cluster before a stopped
  one, then in listed order).
* ``pg_version``: ``PG_VERSION`` in that data directory > the version tied to that directory by a
  running postmaster's binary (``/usr/lib/postgresql/17/bin/postgres``, ``/usr/pgsql-17/bin``, or
  ``postgres --version``) or by ``pg_lsclusters`` > ``pg_config --version``. The data directory
  comes first because it is what the server will actually run; a ``pg_config`` on ``PATH`` may
  belong to another major (on Debian, ``libpq-dev`` installs one for the client library).
* ``pg_build``: ``pg_config --configure`` (``--with-lz4``, ``--with-zstd``, ``--with-liburing``)
  of the postmaster's own ``pg_config`` when known, else the one for the detected major, else
  ``pg_config`` on ``PATH``; skipped when that ``pg_config`` reports a different major.

Commands go through an injectable ``run`` callable (argv -> stdout or ``None``) so tests need no
binaries; :func:`run_command` is the real one. The environment is passed in, never read here.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from pgforge.detect import Note, Probe, list_dir, under

Runner = Callable[[Sequence[str]], str | None]

# Majors pgforge has rules for; must equal pgforge.spec.SUPPORTED_MAJORS (a test checks), kept
# here so detection does not import pydantic.
SUPPORTED_MAJORS = (13, 14, 15, 16, 17, 18)
COMMAND_TIMEOUT = 5.0

_BINDIR_VERSION = (re.compile(r"/postgresql/(\d+)/bin/?$"), re.compile(r"/pgsql-(\d+)/bin/?$"))
_VERSION_TEXT = re.compile(r"PostgreSQL\)?\s+(\d+)(?:\.(\d+))?")
_BUILD_FLAGS = {"lz4": "--with-lz4", "zstd": "--with-zstd", "io_uring": "--with-liburing"}
_MESON_FLAGS = {"lz4": "lz4", "zstd": "zstd", "io_uring": "liburing"}


def run_command(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str | None:
    """Run ``argv`` and return its stdout, or ``None`` if it is missing, fails or hangs."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def no_commands(argv: Sequence[str]) -> str | None:
    """A runner that runs nothing: used for fake roots, where host binaries would describe the wrong machine."""
    return None


@dataclass(frozen=True)
class Postmaster:
    """A running ``postgres``/``postmaster`` process found in ``/proc``."""

    pid: int
    data_dir: str | None
    binary: str | None

    @property
    def bindir(self) -> str | None:
        return str(PurePosixPath(self.binary).parent) if self.binary else None


@dataclass(frozen=True)
class Cluster:
    """One line of Debian's ``pg_lsclusters``."""

    version: str
    name: str
    port: str
    status: str
    owner: str
    data_dir: str

    @property
    def online(self) -> bool:
        return self.status.split(",")[0] == "online"


def parse_major(text: str) -> int | None:
    """Major version from ``PG_VERSION`` content (``17``); ``None`` for ``9.6`` or garbage."""
    value = text.strip()
    # ASCII digits only ("²".isdigit() is true, int() refuses it), and few of them (int() of over
    # 4300 digits raises ValueError; no major has five)
    return int(value) if re.fullmatch(r"[0-9]{1,4}", value) else None


def parse_version_output(text: str) -> int | None:
    """Major from ``pg_config --version`` (``PostgreSQL 17.2 (Debian ...)``) or ``postgres --version``."""
    m = _VERSION_TEXT.search(text)
    if not m:
        return None
    major = int(m.group(1))
    return major if major >= 10 else None  # 9.x majors are "9.6": unsupported either way


def parse_lsclusters(text: str) -> list[Cluster]:
    """Clusters from ``pg_lsclusters`` output, with or without its header line."""
    clusters = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or not re.fullmatch(r"\d+(\.\d+)?", fields[0]):
            continue
        data_dir = fields[5] if len(fields) <= 7 else " ".join(fields[5:-1])
        clusters.append(Cluster(fields[0], fields[1], fields[2], fields[3], fields[4], data_dir))
    return clusters


def parse_configure(text: str) -> dict[str, bool] | None:
    """Build options from ``pg_config --configure``; ``None`` when the text names no options at all.

    Autoconf builds list every ``--with-*`` given, so a missing flag means "built without".
    Meson builds may print nothing; then nothing is claimed.
    """
    options = set(re.findall(r"'([^']*)'", text)) or set(text.split())
    if any(o.startswith("--") for o in options):
        return {key: flag in options for key, flag in _BUILD_FLAGS.items()}
    meson = {m.group(1): m.group(2) for o in options if (m := re.fullmatch(r"-D([\w-]+)=(\w+)", o))}
    if meson:
        return {key: meson[name] == "enabled" for key, name in _MESON_FLAGS.items() if name in meson}
    return None


def _argv_data_dir(argv: list[str]) -> str | None:
    data_directory = None
    d_option = None
    for i, arg in enumerate(argv):
        following = argv[i + 1] if i + 1 < len(argv) else None
        if arg == "-D" and following:
            d_option = following
        elif arg.startswith("-D") and len(arg) > 2:
            d_option = arg[2:]
        elif arg == "-c" and following and following.startswith("data_directory="):
            data_directory = following.split("=", 1)[1]
        elif arg.startswith(("--data_directory=", "--data-directory=")):
            data_directory = arg.split("=", 1)[1]
    return data_directory or d_option


def find_postmasters(root: Path) -> list[Postmaster]:
    """Running postmasters, by pid. Backends rename themselves (``postgres: checkpointer``) and are skipped."""
    proc = under(root, "/proc")
    pids = sorted(int(name) for name in list_dir(root, "/proc") if name.isdigit())
    found = []
    for pid in pids:
        raw = _read_bytes(proc / str(pid) / "cmdline")
        if not raw:
            continue
        argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0")]
        while argv and argv[-1] == "":
            argv.pop()
        if not argv or PurePosixPath(argv[0]).name not in ("postgres", "postmaster"):
            continue
        data_dir = _argv_data_dir(argv)
        if data_dir is None:
            environ = _read_bytes(proc / str(pid) / "environ") or b""
            for item in environ.split(b"\0"):
                if item.startswith(b"PGDATA=") and len(item) > 7:
                    data_dir = item[7:].decode("utf-8", "replace")
        try:
            binary: str | None = os.readlink(proc / str(pid) / "exe")
        except OSError:
            binary = argv[0] if argv[0].startswith("/") else None
        found.append(Postmaster(pid, data_dir, binary))
    return found


def _read_version_file(root: Path, path: str) -> tuple[str | None, str | None]:
    """PG_VERSION's text, or (None, why not) for a file that is not a small regular UTF-8 file.

    A data directory is the user's to point at: PG_VERSION may be a link to ``/dev/zero`` or a FIFO,
    which must neither exhaust memory nor hang detection (:func:`pgforge.inputs.read_bytes`).
    A missing file is (None, None): the other sources are asked.
    """
    from pgforge.inputs import MAX_VERSION_FILE_BYTES, read_bytes

    try:
        data = read_bytes(under(root, path), limit=MAX_VERSION_FILE_BYTES)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, exc.strerror or str(exc)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not UTF-8 text"


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _same_dir(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and PurePosixPath(a) == PurePosixPath(b)


def _binary_version(postmaster: Postmaster, run: Runner) -> int | None:
    bindir = postmaster.bindir
    if bindir:
        for pattern in _BINDIR_VERSION:
            if m := pattern.search(bindir):
                return int(m.group(1))
    if postmaster.binary:
        return parse_version_output(run([postmaster.binary, "--version"]) or "")
    return None


def _version_probe(major: int | None, raw: str, source: str, where: str) -> Probe:
    if major in SUPPORTED_MAJORS:
        return Probe.found("pg_version", major, Note("pg_version", source, f"PostgreSQL {major} from {where}"))
    shown = raw.strip()[:20] or "nothing"
    return Probe.missing(
        "pg_version",
        f"{where} says {shown!r}, not a supported major ({SUPPORTED_MAJORS[0]}..{SUPPORTED_MAJORS[-1]})",
    )


def _find_data_dir(
    data_dir: str | PurePosixPath | None, env: Mapping[str, str], postmasters: list[Postmaster], clusters: list[Cluster]
) -> Probe:
    """The data directory, by the precedence in the module docstring."""
    notes: list[Note] = []
    if data_dir is not None:
        chosen, source = str(data_dir), "--data-dir"
    elif env.get("PGDATA"):
        chosen, source = env["PGDATA"], "PGDATA"
    elif with_dir := [p for p in postmasters if p.data_dir]:
        chosen, source = str(with_dir[0].data_dir), f"running postmaster (pid {with_dir[0].pid})"
        if len(with_dir) > 1:
            others = ", ".join(f"{p.data_dir} (pid {p.pid})" for p in with_dir[1:])
            notes.append(Note("data_dir", "/proc/*/cmdline", f"several postmasters run; using the first, also found {others}"))
    elif clusters:
        cluster = sorted(clusters, key=lambda c: not c.online)[0]
        chosen, source = cluster.data_dir, "pg_lsclusters"
        if len(clusters) > 1:
            listed = ", ".join(f"{c.version}/{c.name} {c.status}" for c in clusters)
            notes.append(Note("data_dir", "pg_lsclusters", f"several clusters ({listed}); using {cluster.version}/{cluster.name}"))
    else:
        return Probe.missing("data_dir", "no --data-dir, PGDATA, running postmaster or pg_lsclusters cluster")
    return Probe.found("data_dir", chosen, Note("data_dir", source, f"data directory {chosen} from {source}"), *notes)


def _version_near_data_dir(
    root: Path, chosen: str | None, postmaster: Postmaster | None, cluster: Cluster | None, run: Runner
) -> tuple[Probe | None, list[Note]]:
    """pg_version from the data directory, its postmaster or its pg_lsclusters line; ``None`` if none knows."""
    notes: list[Note] = []
    if chosen is not None:
        version_file = str(PurePosixPath(chosen) / "PG_VERSION")
        raw, problem = _read_version_file(root, version_file)
        if raw is not None and re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,4})?", raw.strip()):
            return _version_probe(parse_major(raw), raw, version_file, version_file), notes
        if raw is not None:
            notes.append(Note("pg_version", version_file, f"ignored unreadable {version_file} ({raw.strip()[:20]!r})"))
        elif problem is not None:
            notes.append(Note("pg_version", version_file, f"ignored {version_file}: {problem}"))
    if postmaster is not None and (major := _binary_version(postmaster, run)) is not None:
        where = f"the postmaster binary {postmaster.binary} (pid {postmaster.pid})"
        return _version_probe(major, str(major), "running postmaster", where), notes
    if cluster is not None:
        where = f"pg_lsclusters cluster {cluster.version}/{cluster.name}"
        return _version_probe(parse_major(cluster.version), cluster.version, "pg_lsclusters", where), notes
    return None, notes


def _build_options(pg_config: str | None, config_major: int | None, server_major: object, run: Runner) -> Probe:
    """pg_build from ``pg_config --configure``, unless that pg_config belongs to another major."""
    if pg_config is None:
        return Probe.missing("pg_build", "no pg_config found to read build options from")
    if server_major is not None and config_major != server_major:
        return Probe.missing(
            "pg_build", f"{pg_config} is PostgreSQL {config_major}, not the server's {server_major}: its build options do not apply"
        )
    flags = parse_configure(run([pg_config, "--configure"]) or "")
    if flags is None:
        return Probe.missing("pg_build", f"{pg_config} --configure lists no build options")
    shown = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in flags.items())
    return Probe.found("pg_build", flags, Note("pg_build", "pg_config --configure", f"{pg_config} --configure: {shown}"))


def probe_postgres(
    root: Path = Path("/"),
    *,
    data_dir: str | PurePosixPath | None = None,
    env: Mapping[str, str] | None = None,
    run: Runner = no_commands,
) -> dict[str, Probe]:
    """Probes for ``data_dir``, ``pg_version`` and ``pg_build`` (see the module docstring for precedence)."""
    postmasters = find_postmasters(root)
    clusters_text = run(["pg_lsclusters"])
    clusters = parse_lsclusters(clusters_text) if clusters_text else []

    dir_probe = _find_data_dir(data_dir, env or {}, postmasters, clusters)
    chosen = str(dir_probe.value) if dir_probe.value is not None else None
    postmaster = next((p for p in postmasters if _same_dir(p.data_dir, chosen)), None)
    cluster = next((c for c in clusters if _same_dir(c.data_dir, chosen)), None)
    version_probe, version_notes = _version_near_data_dir(root, chosen, postmaster, cluster, run)

    # pg_config: the postmaster's own, then Debian's for the known major, then PATH's.
    candidates = []
    if postmaster is not None and postmaster.bindir:
        candidates.append(f"{postmaster.bindir}/pg_config")
    if version_probe is not None and version_probe.value is not None:
        candidates.append(f"/usr/lib/postgresql/{version_probe.value}/bin/pg_config")
    candidates.append("pg_config")
    pg_config, config_major = None, None
    for candidate in dict.fromkeys(candidates):
        if output := run([candidate, "--version"]):
            pg_config, config_major = candidate, parse_version_output(output)
            if version_probe is None:
                version_probe = _version_probe(config_major, output, "pg_config --version", f"{candidate} --version")
            break
    if version_probe is None:
        version_probe = Probe.missing("pg_version", "no PG_VERSION file, postmaster, pg_lsclusters cluster or pg_config found")
    if version_notes:
        version_probe = replace(version_probe, notes=version_probe.notes + tuple(version_notes))

    build_probe = _build_options(pg_config, config_major, version_probe.value, run)
    return {"data_dir": dir_probe, "pg_version": version_probe, "pg_build": build_probe}
