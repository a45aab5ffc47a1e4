"""Logical backups on real servers, with the bundle's own scripts.

backup.sh dumps a real PostgreSQL 17 database (to a local directory, and to S3 through a moto
server on loopback), restore_dump.sh restores it into a fresh cluster, and row counts and
content checksums match. Retention runs against backups named as if made long ago: only those
older than retention_days go, whatever else sits beside them stays.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgharness import PgCluster, pg_user_tmpdir
from test_realpg_pitr import (
    MAJOR,
    host_spec,
    moto_s3,
    pg_mkdir,
    postgres_aws_cli,
    run_script,
    script_env,
    write_spec_bundle,
)

pytestmark = [pytest.mark.realpg, pytest.mark.slow]

SCHEMA = """
CREATE ROLE app LOGIN;
CREATE DATABASE app OWNER app;
CREATE DATABASE crm;
"""
APP_DATA = """
SET ROLE app;
CREATE TABLE accounts (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, balance numeric(12,2) NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, account_id bigint REFERENCES accounts, total numeric(12,2), placed timestamptz);
INSERT INTO accounts (email, balance) SELECT 'user' || g || '@example.org', g * 1.25 FROM generate_series(1, 2000) g;
INSERT INTO orders (account_id, total, placed)
  SELECT 1 + g % 2000, (g % 97) * 3.5, timestamptz '2025-01-01 00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 5000) g;
CREATE VIEW big_spenders AS SELECT account_id, sum(total) AS spent FROM orders GROUP BY account_id HAVING sum(total) > 300;
"""
DIGEST = """
SELECT (SELECT count(*) FROM accounts) || '/' || (SELECT count(*) FROM orders) || '/' ||
       (SELECT md5(string_agg(id || email || balance, ',' ORDER BY id)) FROM accounts) || '/' ||
       (SELECT md5(string_agg(id || ':' || account_id || ':' || total || ':' || placed, ',' ORDER BY id)) FROM orders) || '/' ||
       (SELECT count(*) FROM big_spenders) || '/' || (SELECT tableowner FROM pg_tables WHERE tablename = 'orders') || '/' ||
       (SELECT last_value FROM orders_id_seq)
"""


def _stamp(days_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime("%Y%m%dT%H%M%SZ")


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    for p in [path, *path.rglob("*")]:
        os.chown(p, entry.pw_uid, entry.pw_gid)


def _fill(src: PgCluster) -> str:
    src.psql(SCHEMA)
    src.psql(APP_DATA, db="app")
    src.psql("CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT g, repeat('x', g) FROM generate_series(1, 300) g;",
             db="crm")
    return src.psql(DIGEST, db="app")


def test_local_backup_restore_and_retention() -> None:
    root = pg_user_tmpdir("pgforge-backup-local-")
    try:
        home = pg_mkdir(root / "home")
        dumps = pg_mkdir(root / "dumps")
        old, recent, stale_partial = _stamp(40), _stamp(29), _stamp(45)
        for stamp, complete in ((old, True), (recent, True), (stale_partial, False)):
            (dumps / stamp).mkdir()
            (dumps / stamp / "app.dump").write_text("an old dump")
            if complete:
                (dumps / stamp / "SHA256SUMS").write_text("")
        for other in ("notes", "2020-01-01", "19990101T000000Z.keep"):
            (dumps / other).mkdir()
        (dumps / "README").write_text("not a backup")
        _chown_tree(dumps)

        src = PgCluster(MAJOR)
        bundle = root / "bundle"
        files = write_spec_bundle(host_spec(src.port, backup={"target": "local", "local_dir": str(dumps),
                                                              "retention_days": 30}), bundle)
        src.conf_extra = files["postgresql.conf"].content
        with src:
            digest = _fill(src)
            result = run_script([bundle / "backup/backup.sh"], script_env(home, src))
            assert "retention: deleting" in result.stderr

            left = sorted(p.name for p in dumps.iterdir())
            assert old not in left and stale_partial not in left  # older than 30 days: gone
            assert recent in left  # 29 days: kept
            assert {"notes", "2020-01-01", "19990101T000000Z.keep", "README"} <= set(left)  # not backups: untouched
            new = [n for n in left if n not in (recent, "notes", "2020-01-01", "19990101T000000Z.keep", "README")]
            assert len(new) == 1
            stored = sorted(p.name for p in (dumps / new[0]).iterdir())
            assert stored == ["SHA256SUMS", "app.dump", "crm.dump", "globals.sql", "postgres.dump"]
            assert (dumps / new[0] / "app.dump").stat().st_mode & 0o077 == 0  # dumps are private to postgres
            check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=dumps / new[0],
                                   capture_output=True, text=True, check=False)
            assert check.returncode == 0, check.stdout + check.stderr

            with PgCluster(MAJOR) as dest:
                env = script_env(home, dest)
                listed = run_script([bundle / "backup/restore_dump.sh", "-l"], env).stdout.split()
                assert listed == sorted([recent, new[0]])
                run_script([bundle / "backup/restore_dump.sh", "-g", "app"], env)
                assert dest.psql(DIGEST, db="app") == digest
                run_script([bundle / "backup/restore_dump.sh", "-t", "crm_copy", "crm"], env)
                assert dest.psql("SELECT count(*), sum(length(body)) FROM notes", db="crm_copy") == "300|45150"
                again = run_script([bundle / "backup/restore_dump.sh", "app"], env, ok=False)
                assert again.returncode != 0 and "exists" in again.stderr
                assert dest.psql(DIGEST, db="app") == digest  # the refused restore touched nothing
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_s3_backup_restore_and_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = postgres_aws_cli()
    root = pg_user_tmpdir("pgforge-backup-s3-")
    try:
        with moto_s3(monkeypatch) as (endpoint, s3):
            s3.create_bucket(Bucket="pgforge-dumps")
            old, recent = _stamp(31), _stamp(3)
            kept_elsewhere = [f"prod/daily/{recent}/app.dump", f"prod/daily/{recent}/SHA256SUMS",
                              "prod/daily/notes/readme.txt", f"prod/daily-other/{old}/app.dump", f"{old}/app.dump"]
            for key in [f"prod/daily/{old}/app.dump", f"prod/daily/{old}/SHA256SUMS", *kept_elsewhere]:
                s3.put_object(Bucket="pgforge-dumps", Key=key, Body=b"old")

            home = pg_mkdir(root / "home")
            src = PgCluster(MAJOR)
            bundle = root / "bundle"
            files = write_spec_bundle(host_spec(src.port, backup={
                "target": "s3", "retention_days": 30, "databases": ["app"],
                "s3": {"bucket": "pgforge-dumps", "prefix": "prod/daily", "endpoint_url": endpoint,
                       "region": "us-east-1", "aws_cli": aws}}), bundle)
            src.conf_extra = files["postgresql.conf"].content
            with src:
                digest = _fill(src)
                run_script([bundle / "backup/backup.sh"], script_env(home, src))

            keys = {o["Key"] for o in s3.list_objects_v2(Bucket="pgforge-dumps")["Contents"]}
            assert not any(k.startswith(f"prod/daily/{old}/") for k in keys)
            assert set(kept_elsewhere) <= keys
            new = {k.split("/")[2] for k in keys if k.startswith("prod/daily/2")} - {recent}
            assert len(new) == 1
            stamp = new.pop()
            assert {f"prod/daily/{stamp}/{n}" for n in ("app.dump", "globals.sql", "SHA256SUMS")} <= keys

            with PgCluster(MAJOR) as dest:
                run_script([bundle / "backup/restore_dump.sh", "-g", "app"], script_env(home, dest))
                assert dest.psql(DIGEST, db="app") == digest
    finally:
        shutil.rmtree(root, ignore_errors=True)
