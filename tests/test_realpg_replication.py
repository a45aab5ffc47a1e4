"""Replication on real servers, with the bundle's own files.

A PostgreSQL 17 primary runs the generated postgresql.conf (synchronous mode, so the replica's
application_name must match synchronous_standby_names); replication/primary_setup.sql creates the
role and the slot; the generated bootstrap script clones the primary into a replica on another
loopback port; rows written on the primary appear on the replica, and pg_stat_replication shows
it streaming through its slot. Then logical replication: the generated publication and
subscription SQL carry rows from one server to another.
"""

from __future__ import annotations

import shutil

import pytest

from pgharness import PgCluster, free_port, pg_user_tmpdir
from test_realpg_pitr import (
    MAJOR,
    DataDirServer,
    host_spec,
    pg_mkdir,
    run_script,
    script_env,
    wait_until,
    write_spec_bundle,
)

pytestmark = [pytest.mark.realpg, pytest.mark.slow]

SECRET = "test-only-secret"  # lives in the test and the passfile it writes, never in a generated file


def _passfile(path, *lines: str) -> None:
    import os
    import pwd

    path.write_text("".join(f"{line}\n" for line in lines))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o600)


def test_sync_replica_bootstrapped_by_generated_script_streams_through_its_slot() -> None:
    root = pg_user_tmpdir("pgforge-repl-")
    try:
        home = pg_mkdir(root / "home")
        passfile = home / "pgpass"
        primary = PgCluster(MAJOR)
        replica_port = free_port()
        files = write_spec_bundle(host_spec(primary.port, replication={
            "replicas": [{"name": "replica1", "host": "127.0.0.1", "port": replica_port}],
            "mode": "sync", "primary_host": "127.0.0.1", "passfile": str(passfile)}), root / "bundle")
        for f in files.values():
            assert SECRET not in f.content
        primary.conf_extra = files["postgresql.conf"].content
        with primary:
            assert primary.psql("SHOW wal_level") == "replica"
            assert primary.psql("SHOW synchronous_standby_names") == "ANY 1 (replica1)"
            setup = files["replication/primary_setup.sql"].content
            primary.psql(setup)
            primary.psql(setup)  # a second run changes nothing and does not fail
            assert primary.psql("SELECT slot_type, restart_lsn IS NOT NULL FROM pg_replication_slots "
                                "WHERE slot_name = 'replica1'") == "physical|t"
            assert primary.psql("SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = 'replicator'") == "t|f"
            primary.psql(f"SET synchronous_commit = local; ALTER ROLE replicator PASSWORD '{SECRET}'")
            _passfile(passfile, f"127.0.0.1:{primary.port}:replication:replicator:{SECRET}")

            replica_dir = root / "replica"
            run_script([root / "bundle/replication/bootstrap_replica1.sh", replica_dir], script_env(home))
            assert (replica_dir / "standby.signal").exists()
            auto = (replica_dir / "postgresql.auto.conf").read_text()
            assert SECRET not in auto and "password=" not in auto
            assert f"passfile={passfile}" in auto

            with DataDirServer(replica_dir, primary.sockdir, port=replica_port) as replica:
                wait_until(lambda: primary.psql(
                    "SELECT application_name, state, sync_state FROM pg_stat_replication") == "replica1|streaming|quorum",
                    "replica1 streaming as the synchronous standby", timeout=60)
                assert primary.psql(
                    "SELECT s.active AND s.active_pid = r.pid FROM pg_replication_slots s JOIN pg_stat_replication r "
                    "ON r.application_name = 'replica1' WHERE s.slot_name = 'replica1'") == "t"

                # A synchronous commit returns once the replica has the WAL; the rows then show there.
                primary.psql("CREATE TABLE t (id int PRIMARY KEY, note text);"
                             "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 500) g;")
                digest = primary.psql("SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t")
                wait_until(lambda: replica.psql("SELECT to_regclass('t') IS NOT NULL AND "
                                                "(SELECT count(*) FROM t) = 500") == "t",
                           "the rows on the replica", timeout=30)
                assert replica.psql("SELECT md5(string_agg(id || ':' || note, ',' ORDER BY id)) FROM t") == digest
                assert replica.psql("SELECT pg_is_in_recovery()") == "t"
                assert replica.psql("SHOW primary_slot_name") == "replica1"
                assert replica.psql("SHOW cluster_name") == "replica1"
                assert replica.psql("SHOW hot_standby_feedback") == "on"
                assert replica.psql("SHOW port") == str(replica_port)
                conninfo = replica.psql("SHOW primary_conninfo")
                assert "application_name=replica1" in conninfo and "password" not in conninfo.replace("passfile", "")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_logical_publication_and_subscription_carry_rows() -> None:
    root = pg_user_tmpdir("pgforge-logical-")
    try:
        home = pg_mkdir(root / "home")
        passfile = home / "pgpass"
        publisher = PgCluster(MAJOR)
        files = write_spec_bundle(host_spec(publisher.port, replication={
            "logical": True, "publications": [{"name": "app_pub", "database": "app"}],
            "primary_host": "127.0.0.1", "passfile": str(passfile)}), root / "bundle")
        publisher.conf_extra = files["postgresql.conf"].content
        with publisher, PgCluster(MAJOR) as subscriber:
            assert publisher.psql("SHOW wal_level") == "logical"
            publisher.psql("CREATE DATABASE app")
            schema = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);"
            publisher.psql(schema + "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 200) g;", db="app")
            publisher.psql(files["replication/primary_setup.sql"].content)
            publisher.psql(f"ALTER ROLE replicator PASSWORD '{SECRET}'")
            publication = files["replication/app_pub_publication.sql"].content
            publisher.psql(publication, db="app")
            publisher.psql(publication, db="app")  # idempotent
            assert publisher.psql("SELECT puballtables FROM pg_publication WHERE pubname = 'app_pub'", db="app") == "t"

            _passfile(passfile, f"127.0.0.1:{publisher.port}:app:replicator:{SECRET}")
            subscriber.psql("CREATE DATABASE app")
            subscriber.psql(schema, db="app")
            subscription = files["replication/app_pub_subscription.sql"].content
            assert SECRET not in subscription
            subscriber.psql(subscription, db="app")
            subscriber.psql(subscription, db="app")  # idempotent
            wait_until(lambda: subscriber.psql("SELECT count(*) FROM items", db="app") == "200",
                       "the initial copy on the subscriber", timeout=60)
            publisher.psql("INSERT INTO items VALUES (201, 'after the copy')", db="app")
            wait_until(lambda: subscriber.psql("SELECT name FROM items WHERE id = 201", db="app") == "after the copy",
                       "a streamed change on the subscriber", timeout=60)
            subscriber.psql("DROP SUBSCRIPTION app_pub_sub", db="app")
    finally:
        shutil.rmtree(root, ignore_errors=True)
