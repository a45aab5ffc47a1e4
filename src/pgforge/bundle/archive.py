"""Bundle part: WAL archiving and point-in-time recovery (see bundle/__init__.py for the contract).

Files, when the spec has an ``archive:`` section:

- ``archive/archive_wal.sh`` (local and s3 targets): the script archive_command calls;
- ``archive/base_backup.sh`` and ``archive/pgforge-base-backup.cron``: physical base backups that
  pair with the archive, with retention of backups and of the WAL only they needed;
- ``archive/pgbackrest.conf`` or ``archive/walg.json`` for those targets;
- ``recovery/pitr_restore.sh`` and ``recovery/README.md``: the recovery kit.

The restore_command of the kit and the archive_command in postgresql.conf both come from
:class:`~pgforge.spec.archive.ArchiveSpec`, so they always name the same place. Every location
and option set the scripts use is computed once and handed to the templates: object keys and folders
by ``S3Target.key``/``folder``, the aws CLI words by ``S3Target.cli_words``, the pgbackrest and wal-g
options by ``ArchiveSpec.pgbackrest_args``/``walg_words``, and pgbackrest.conf's options (with
pgBackRest's defaults) by :func:`pgbackrest_global`; the templates only lay them out.

Counterparts: the spec section is spec/archive.py, the archive settings of postgresql.conf are
rules/archive.py, the logical backups are bundle/backup.py (sharing :func:`store_context`), and the
audit's archive checks are in audit/checks/durability.py and coherence.py.

Seen from these files: their input is spec/archive.py, archive_mode and archive_command in
postgresql.conf are rules/archive.py, and the audit judges the written archive with PGF105
(durability.py) and PGF403 (coherence.py) in audit/checks/.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pgforge import __version__
from pgforge.render.escape import Escaped, conf_string, json_text
from pgforge.render.templates import render
from pgforge.spec import HostSpec
from pgforge.spec.archive import ArchiveSpec, S3Target
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

SCRIPT = 0o755
PRIVATE = 0o600
PUBLIC = 0o644


# Which storage functions of templates/scripts/_store.sh.j2 call which others, per storage kind:
# each script gets exactly the functions it uses (shellcheck flags unused ones).
_STORE_DEPS = {
    "local": {"store_put_dir": {"store_put"}, "store_stamps": {"store_index"},
              "prune_older_than": {"store_index", "store_remove_stamp"}},
    "s3": {"store_files": {"store_keys"}, "store_index": {"store_keys"}, "store_stamps": {"store_index"},
           "prune_older_than": {"store_index", "store_remove_stamp"}},
}


def store_context(local_dir: str | None, s3: S3Target | None, sub: str = "", *, need: tuple[str, ...]) -> dict[str, Any]:
    """The ``store`` context of templates/scripts/_store.sh.j2: a local directory or an S3 prefix,
    optionally a sub-folder of it (``base`` for base backups), and the functions the script needs."""
    kind = "local" if s3 is None else "s3"
    wanted, todo = set(), list(need)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(_STORE_DEPS[kind].get(name, ()))
    if s3 is None:
        assert local_dir is not None
        root = f"{local_dir.rstrip('/')}/{sub}" if sub else local_dir
        return {"kind": kind, "root": root, "describe": f"{root}/", "need": wanted}
    base = s3.folder(sub)
    return {"kind": kind, "cli": s3.cli_words(), "bucket": s3.bucket, "base": base, "describe": f"s3://{s3.bucket}/{base}",
            "need": wanted}


def common_context(spec: HostSpec) -> dict[str, Any]:
    """Values every script template uses: version, spec, Debian's binary and data directories."""
    return {
        "version": __version__,
        "spec": spec,
        "pgbin": f"/usr/lib/postgresql/{spec.pg_version}/bin",
        "data_directory": (spec.archive.data_directory if spec.archive and spec.archive.data_directory
                           else f"/var/lib/postgresql/{spec.pg_version}/main"),
    }


def restore_conf_line(archive: ArchiveSpec) -> str:
    """``restore_command = '...'`` exactly as postgresql.auto.conf must hold it."""
    return Escaped(f"restore_command = {conf_string(archive.restore_command())}")


def _walg_json(archive: ArchiveSpec, spec: HostSpec) -> str:
    assert archive.s3 is not None
    conf: dict[str, str] = {"WALG_S3_PREFIX": archive.s3.url(), "WALG_PREVENT_WAL_OVERWRITE": "true",
                            "PGHOST": "/var/run/postgresql", "PGPORT": str(spec.port)}
    if archive.s3.region:
        conf["AWS_REGION"] = archive.s3.region
    if archive.s3.endpoint_url:
        conf["AWS_ENDPOINT"] = archive.s3.endpoint_url
        conf["AWS_S3_FORCE_PATH_STYLE"] = "true"
    return json_text(conf, indent=2)


#: pgBackRest's repository path when it is not on S3 and the spec gives no local_dir (its own default).
PGBACKREST_DEFAULT_PATH = "/var/lib/pgbackrest"
#: The S3 region pgBackRest is told when the spec names none (AWS's default region).
PGBACKREST_DEFAULT_REGION = "us-east-1"


def pgbackrest_global(archive: ArchiveSpec) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The ``[global]`` options of pgbackrest.conf, in order: where the repository is (S3 bucket,
    path, endpoint, region, addressing), then how long backups are kept and how they run."""
    s3 = archive.s3
    if s3 is None:
        repo = [("repo1-path", archive.local_dir or PGBACKREST_DEFAULT_PATH)]
    else:
        region = s3.region or PGBACKREST_DEFAULT_REGION
        repo = [("repo1-type", "s3"), ("repo1-s3-bucket", s3.bucket), ("repo1-path", "/" + s3.key())]
        if s3.endpoint_url:
            endpoint = urlsplit(s3.endpoint_url)
            repo.append(("repo1-s3-endpoint", endpoint.hostname or ""))
            if endpoint.port:
                repo.append(("repo1-storage-port", str(endpoint.port)))
        else:
            repo.append(("repo1-s3-endpoint", f"s3.{region}.amazonaws.com"))
        repo.append(("repo1-s3-region", region))
        # A custom endpoint (MinIO, Ceph) is addressed by path; AWS by virtual host, keys from the instance role.
        repo.append(("repo1-s3-uri-style", "path") if s3.endpoint_url else ("repo1-s3-key-type", "auto"))
    policy = [("repo1-retention-full-type", "time"), ("repo1-retention-full", str(archive.retention_days)),
              ("start-fast", "y"), ("log-level-console", "info")]
    return repo, policy


def files(t: Tuning) -> list[OutFile]:
    spec = t.spec
    archive = spec.archive
    if archive is None:
        return []
    ctx = common_context(spec)
    ctx["archive"] = archive
    ctx["restore_line"] = restore_conf_line(archive)
    ctx["s3_cli"] = archive.s3.cli_words() if archive.s3 else []
    ctx["wal_folder"] = archive.s3.folder() if archive.s3 else ""
    ctx["pgbackrest_args"] = archive.pgbackrest_args
    ctx["walg"] = archive.walg_words
    ctx["installed"] = {name: archive.script(name) for name in ("base_backup.sh", "pitr_restore.sh")}
    ctx["damaged_directory"] = f"{ctx['data_directory']}.damaged"
    ctx["host_title"] = spec.name or "this host"
    out: list[OutFile] = []
    where = archive.scripts_dir
    if archive.target in ("local", "s3"):
        ctx["store"] = store_context(archive.local_dir, archive.s3, "base",
                                     need=("store_put_dir", "store_put", "store_files", "store_get", "prune_older_than"))
        out.append(OutFile("archive/archive_wal.sh", render("scripts/archive_wal.sh.j2", **ctx), SCRIPT,
                           f"archive_command: stores one WAL file in {archive.location()}, never overwriting; "
                           f"install in {where} before the server starts with postgresql.conf", "reference"))
    if archive.target == "pgbackrest":
        repo, policy = pgbackrest_global(archive)
        out.append(OutFile("archive/pgbackrest.conf",
                           render("scripts/pgbackrest.conf.j2", repo=repo, policy=policy, **ctx), PRIVATE,
                           f"pgBackRest repository and stanza: copy to {archive.pgbackrest_config}, then stanza-create",
                           "reference"))
    if archive.walg_config:
        out.append(OutFile("archive/walg.json", render("scripts/walg.json.j2", walg_json=_walg_json(archive, spec)), PRIVATE,
                           f"WAL-G storage settings (no secrets): install as {archive.walg_config}", "reference"))
    out.append(OutFile("archive/base_backup.sh", render("scripts/base_backup.sh.j2", **ctx), SCRIPT,
                       "physical base backup paired with the WAL archive, with retention; run as postgres (cron)", "run"))
    out.append(OutFile("archive/pgforge-base-backup.cron", render("scripts/cron.j2", filename="pgforge-base-backup",
                       logfile="/var/log/postgresql/pgforge-base-backup.log",
                       jobs=[{"why": "physical base backup for point-in-time recovery", "schedule": archive.base_backup_schedule,
                              "command": ctx["installed"]["base_backup.sh"]}], **ctx), PUBLIC,
                       "cron schedule of base_backup.sh: copy to /etc/cron.d/pgforge-base-backup", "reference"))
    if archive.target in ("local", "s3"):
        ctx["store"] = store_context(archive.local_dir, archive.s3, "base", need=("store_stamps", "store_get_dir"))
    out.append(OutFile("recovery/pitr_restore.sh", render("recovery/pitr_restore.sh.j2", **ctx), SCRIPT,
                       "point-in-time recovery: base backup + restore_command + recovery target + recovery.signal", "run"))
    out.append(OutFile("recovery/README.md", render("recovery/README.md.j2", **ctx), PUBLIC,
                       "how to run a point-in-time recovery with this bundle", "reference"))
    return out
