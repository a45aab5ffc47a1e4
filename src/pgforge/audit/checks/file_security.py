"""File security checks (PGF211-PGF212): who may read the secrets, and whether the TLS files
the settings name are there.

A root-owned 0640 TLS key is accepted (PostgreSQL accepts it). Counterparts: the ssl rules
(rules/ssl.py) name the files a generated bundle expects, bundle/pgbouncer.py writes userlist.txt
without secrets; pg_hba.conf's checks are hba_security.py, PgBouncer's pgbouncer_security.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

from pgforge.audit.checks.pgbouncer_security import bouncer_main
from pgforge.audit.model import Hit, Where, check
from pgforge.audit.target import Target
from pgforge.audit.values import at_value, effective_bool


def _installed(t: Target) -> bool:
    """True when the audited files are a live installation on this machine (so absolute paths
    they name are this installation's files, not some other machine's)."""
    if t.conf is None:
        return False
    conf_dir = Path(t.conf.root).parent
    return (conf_dir / "PG_VERSION").is_file() or str(conf_dir).startswith("/etc/postgresql/")


def _data_dir(t: Target) -> Path | None:
    """The data directory relative server paths resolve against, when known on this machine."""
    if t.conf is None:
        return None
    dd = t.get("data_directory")
    if dd is not None and os.path.isabs(dd.value):
        return Path(dd.value) if _installed(t) else None
    conf_dir = Path(t.conf.root).parent
    return conf_dir if (conf_dir / "PG_VERSION").is_file() else None


def _server_file(t: Target, value: str) -> Path | None:
    """A file named by a server setting (relative to the data directory), if it can be judged here."""
    if not value:
        return None
    if os.path.isabs(value):
        return Path(value) if _installed(t) else None
    dd = _data_dir(t)
    return dd / value if dd is not None else None


def _has_entries(path: Path, kind: str) -> bool:
    """True when a userlist.txt / .pgpass holds at least one credential line."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        if kind == "userlist" and s.startswith('"'):
            return True
        if kind == "pgpass" and not s.startswith("#"):
            return True
    return False


def _mode_problem(path: Path, kind: str) -> tuple[str, str] | None:
    """(severity, message) when ``path``'s mode lets others read it; None when fine or missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    shown = f"{mode:04o}"
    if kind == "key":
        if mode & 0o004:
            return "error", f"mode {shown}: every local account can read the server's private TLS key"
        if mode & 0o070 and (st.st_uid != 0 or mode & 0o030):
            return "error", (f"mode {shown}: the group can access the private key; PostgreSQL refuses to start unless "
                             "the key is 0600 (or 0640 owned by root)")
        return None
    if mode & 0o004:
        return "error", f"mode {shown}: every local account can read the credentials in it"
    if mode & 0o077:
        extra = "; libpq ignores a .pgpass that group or others can access" if kind == "pgpass" else ""
        return "warning", f"mode {shown}: the file's group can read the credentials in it{extra}"
    return None


@check("PGF211", "secret-file-readable", "error", "security", sets=("cis", "ci"))
def secret_file_readable(t: Target) -> Iterable[Hit]:
    """A file holding secrets that other accounts can read: userlist.txt, .pgpass, the TLS key.

    ## What it does
    Checks the permission bits (``st_mode``) of the PgBouncer auth_file (``userlist.txt``) and
    ``.pgpass`` files found among the audited files when they hold at least one credential
    line, and of the server's private key named by ``ssl_key_file`` when the audited files are
    an installation on this machine (a data directory, or /etc/postgresql). World-readable is
    an error; group-readable a warning, and an error for the TLS key unless root owns it with
    mode 0640, which PostgreSQL accepts.

    ## Why is this bad?
    userlist.txt holds SCRAM secrets or MD5 hashes that log in as those users; .pgpass holds
    passwords (and libpq ignores it when others can read it); whoever reads the TLS key can
    impersonate the server.

    ## Example
    ```
    -rw-r--r--  userlist.txt
    ```

    ## Fix
    ```
    chmod 0600 userlist.txt && chown postgres: userlist.txt
    ```
    """
    for path in t.secret_files:
        kind = "pgpass" if "pgpass" in path.name else "userlist"
        if not _has_entries(path, kind):
            continue
        problem = _mode_problem(path, kind)
        if problem is not None:
            severity, message = problem
            yield Hit(Where(str(path), 1, 1), f"{path.name}: {message}", f"chmod 0600 {path}", severity=severity)
    s = t.get("ssl_key_file")
    if s is not None and t.conf is not None and effective_bool(t, "ssl"):
        key = _server_file(t, s.value)
        problem = _mode_problem(key, "key") if key is not None else None
        if problem is not None:
            severity, message = problem
            yield Hit(at_value(s), f"{key}: {message}", f"chmod 0600 {key} (owner postgres)", severity=severity)


@check("PGF212", "ssl-without-cert-key", "error", "security", sets=("cis", "ci"))
def ssl_without_cert_key(t: Target) -> Iterable[Hit]:
    """TLS is turned on but there is no certificate or key to serve: the server does not start.

    ## What it does
    With ``ssl = on``, flags an empty ``ssl_cert_file`` or ``ssl_key_file``, and, when the
    audited directory is a data directory (PG_VERSION beside postgresql.conf), a certificate
    or key that does not exist where the server will look. In PgBouncer, flags
    ``client_tls_sslmode`` other than ``disable`` without ``client_tls_key_file`` and
    ``client_tls_cert_file``.

    ## Why is this bad?
    PostgreSQL refuses to start (and keeps the old settings on reload) when it cannot load
    the certificate and key; PgBouncer refuses to start as well.

    ## Example
    ```
    ssl = on
    ssl_cert_file = ''
    ```

    ## Fix
    Point ``ssl_cert_file``/``ssl_key_file`` at the files (relative paths are in the data
    directory) and install them before the restart.
    """
    if t.conf is not None and effective_bool(t, "ssl"):
        ssl = t.get("ssl")
        for name in ("ssl_cert_file", "ssl_key_file"):
            s = t.get(name)
            value = t.text(name) or ""
            if not value.strip():
                yield Hit(at_value(s) if s is not None else at_value(ssl) if ssl is not None else t.anchor(),
                          f"ssl is on but {name} is empty: the server does not start", f"set {name}")
                continue
            path = _server_file(t, value)
            if path is not None and not path.exists():
                where = at_value(s) if s is not None else at_value(ssl) if ssl is not None else t.anchor()
                yield Hit(where, f"ssl is on but {name} {path} does not exist: the server does not start",
                          f"install the file at {path} or point {name} at it")
    main = bouncer_main(t)
    mode = main.get("client_tls_sslmode")
    if mode is not None and mode.value.strip().lower() not in ("", "disable"):
        missing = [k for k in ("client_tls_key_file", "client_tls_cert_file")
                   if k not in main or not main[k].value.strip()]
        if missing:
            yield Hit(Where(mode.path, mode.line, mode.value_column),
                      f"client_tls_sslmode = {mode.value} without {' and '.join(missing)}: PgBouncer does not start",
                      f"set {' and '.join(missing)}")
