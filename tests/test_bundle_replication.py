"""The replication part of a bundle: primary settings from the rules, the per-replica files, and
their coherence with the archive, pg_hba.conf and TLS. Real streaming is in test_realpg_replication.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from pgforge.bundle import build_bundle
from pgforge.spec import HostSpec
from pgforge.tuning import tune
from pgforge.units import GB
from pgharness import MAJORS, postgres_C

BASE: dict[str, Any] = {"memory": "16GB", "cpus": 4, "pg_version": 17}
ONE = [{"name": "replica1", "host": "10.0.2.10"}]
REP_SETTINGS = ("wal_level", "max_wal_senders", "max_replication_slots", "wal_keep_size", "max_slot_wal_keep_size",
                "synchronous_standby_names", "hot_standby", "hot_standby_feedback", "wal_log_hints")


def _spec(**over: Any) -> HostSpec:
    return HostSpec.model_validate({**BASE, **over})


def _tuning(**over: Any):
    return tune(_spec(**over))


def _settings(**over: Any) -> dict[str, Any]:
    return {s.name: s for s in _tuning(**over).settings}


def _files(**over: Any) -> dict[str, Any]:
    return {f.path: f for f in build_bundle(_tuning(**over))}


def test_without_replication_the_defaults_stay() -> None:
    settings = _settings()
    assert not set(REP_SETTINGS) & set(settings)
    assert not [p for p in _files() if p.startswith("replication/")]


def test_primary_settings_for_async_replicas() -> None:
    s = _settings(replication={"replicas": ONE})
    assert s["wal_level"].text == "replica"
    assert s["max_wal_senders"].value == 10 and s["max_replication_slots"].value == 10
    assert s["wal_keep_size"].text == "1GB"
    assert s["hot_standby"].text == "on" and s["hot_standby_feedback"].text == "on" and s["wal_log_hints"].text == "on"
    assert "synchronous_standby_names" not in s
    assert {s[n].apply_action for n in ("wal_level", "max_wal_senders", "max_replication_slots", "wal_log_hints")} == {"restart"}
    assert {s[n].apply_action for n in ("wal_keep_size", "max_slot_wal_keep_size", "hot_standby_feedback")} == {"reload"}


def test_many_replicas_get_enough_senders_and_slots() -> None:
    replicas = [{"name": f"r{i}", "host": f"10.0.2.{i}"} for i in range(1, 21)]
    s = _settings(replication={"replicas": replicas})
    assert s["max_wal_senders"].value == 20 + 2 + 2  # each replica, a running pg_basebackup, spare
    assert s["max_replication_slots"].value == 20 + 2


def test_sync_mode_waits_for_a_quorum_and_warns_when_one_replica_can_stall_commits() -> None:
    two = [{"name": "r1", "host": "10.0.0.2"}, {"name": "r2", "host": "10.0.0.3"}]
    t = _tuning(replication={"replicas": two, "mode": "sync"})
    assert t.get("synchronous_standby_names").text == "'ANY 1 (r1, r2)'"
    assert not any("commits on the primary block" in w for w in t.warnings)
    single = _tuning(replication={"replicas": ONE, "mode": "sync"})
    assert single.get("synchronous_standby_names").value == "ANY 1 (replica1)"
    assert any("commits on the primary block" in w for w in single.warnings)


def test_logical_replication_raises_wal_level() -> None:
    s = _settings(replication={"publications": ["app_pub"]})
    assert s["wal_level"].text == "logical"
    assert s["max_replication_slots"].value == 10
    assert "hot_standby" not in s  # no physical replica


def test_slot_retention_is_bounded_by_the_wal_disk() -> None:
    bounded = _tuning(wal_disk="100GB", replication={"replicas": ONE})
    assert bounded.get("max_slot_wal_keep_size").value == 50 * GB
    assert not any("max_slot_wal_keep_size" in w for w in bounded.warnings)
    guessed = _tuning(replication={"replicas": ONE})
    assert guessed.get("max_slot_wal_keep_size").value == 4 * guessed.get("max_wal_size").value
    assert any("max_slot_wal_keep_size" in w for w in guessed.warnings)
    small = _tuning(wal_disk="4GB", replication={"replicas": ONE})
    assert small.get("wal_keep_size").value < GB


@pytest.mark.parametrize("replication", [
    {"replicas": [{"name": "r1", "host": "a"}, {"name": "r1", "host": "b"}]},
    {"mode": "sync"},
    {"replicas": ONE, "mode": "sync", "sync_count": 2},
    {"replicas": [{"name": "Replica-1", "host": "a"}]},
    {"replicas": [{"name": "r1", "host": "a b"}]},
    {"replicas": ONE, "user": "rep;drop"},
    {"replicas": ONE, "passfile": "~/.pgpass"},
    {"replicas": ONE, "sslmode": "maybe"},
    {"publications": [{"name": "p", "tables": ["Bad Table"]}]},
    {"publications": ["p", "p"]},
])
def test_bad_replication_sections_are_rejected(replication: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _spec(replication=replication)


def test_bootstrap_script_per_replica_and_setup_sql() -> None:
    files = _files(replication={"replicas": [{"name": "r1", "host": "10.0.0.2", "port": 5433},
                                             {"name": "r2", "host": "10.0.0.3"}],
                                "primary_host": "10.0.0.1", "user": "streamer"})
    setup = files["replication/primary_setup.sql"].content
    assert "SET synchronous_commit = local;" in setup
    assert "CREATE ROLE %I WITH LOGIN REPLICATION', 'streamer'" in setup
    for name in ("r1", "r2"):
        assert f"pg_create_physical_replication_slot('{name}', true)" in setup
        script = files[f"replication/bootstrap_{name}.sh"]
        assert script.mode == 0o755 and script.apply == "run"
        body = script.content
        assert "--wal-method=stream" in body and "--write-recovery-conf" in body and '--slot="$name"' in body
        assert f"name={name}\n" in body and "primary_host=${PRIMARY_HOST:-10.0.0.1}" in body
        assert "passfile=$passfile" in body and "password=" not in body and "PGPASSWORD" not in body
    assert "replica_port=5433\n" in files["replication/bootstrap_r1.sh"].content
    assert "replica_port=5432\n" in files["replication/bootstrap_r2.sh"].content
    example = files["replication/pgpass.example"]
    assert example.mode == 0o600
    assert "10.0.0.1:5432:replication:streamer:CHANGE_ME" in example.content


def test_replicas_fall_back_to_the_archive_when_one_is_configured() -> None:
    files = _files(replication={"replicas": ONE}, archive={"target": "s3", "s3": {"bucket": "wal-bucket", "prefix": "p"}})
    body = files["replication/bootstrap_replica1.sh"].content
    assert """restore_command = 'aws s3 cp --only-show-errors "s3://wal-bucket/p/%f" "%p"'""" in body
    assert "restore_command" not in _files(replication={"replicas": ONE})["replication/bootstrap_replica1.sh"].content


def test_unknown_primary_address_is_a_warning_and_a_guard_in_the_script() -> None:
    files = _files(replication={"replicas": ONE})
    manifest = json.loads(files["MANIFEST.json"].content)
    assert any("primary_host is not set" in w for w in manifest["warnings"])
    body = files["replication/bootstrap_replica1.sh"].content
    assert "primary_host=${PRIMARY_HOST:-}\n" in body and "set PRIMARY_HOST" in body
    listed = _files(listen_addresses=["10.9.9.9"], replication={"replicas": ONE})
    assert "primary_host=${PRIMARY_HOST:-10.9.9.9}" in listed["replication/bootstrap_replica1.sh"].content


def test_sslmode_follows_the_primarys_tls() -> None:
    plain = _files(replication={"replicas": ONE, "primary_host": "10.0.0.1"})
    assert "sslmode=prefer" in plain["replication/bootstrap_replica1.sh"].content
    assert any("unencrypted" in w for w in json.loads(plain["MANIFEST.json"].content)["warnings"])
    tls = _files(replication={"replicas": ONE, "primary_host": "10.0.0.1"},
                 access=[{"type": "hostssl", "database": "app", "user": "app", "address": "10.0.1.0/24"}])
    assert "\nssl = on\n" in tls["postgresql.conf"].content
    assert "sslmode=require" in tls["replication/bootstrap_replica1.sh"].content
    explicit = _files(replication={"replicas": ONE, "primary_host": "10.0.0.1", "sslmode": "verify-full"})
    assert "sslmode=verify-full" in explicit["replication/bootstrap_replica1.sh"].content
    assert not any("unencrypted" in w for w in json.loads(explicit["MANIFEST.json"].content)["warnings"])


def test_logical_publication_and_subscription_sql() -> None:
    files = _files(replication={"primary_host": "10.0.0.1", "publications": [
        "app_pub", {"name": "crm_pub", "database": "crm", "tables": ["public.accounts", "sales.orders"]}]})
    app = files["replication/app_pub_publication.sql"].content
    assert "FOR ALL TABLES', 'app_pub')" in app and "\\gexec" in app
    crm = files["replication/crm_pub_publication.sql"].content
    assert "FOR TABLE public.accounts, sales.orders" in crm and "GRANT SELECT ON sales.orders TO replicator;" in crm
    sub = files["replication/crm_pub_subscription.sql"].content
    assert "\\set primary_host 10.0.0.1" in sub
    assert "dbname=crm user=replicator passfile=/var/lib/postgresql/.pgpass" in sub and "password=" not in sub
    assert "'crm_pub_sub'" in sub
    assert "10.0.0.1:5432:crm:replicator:CHANGE_ME" in files["replication/pgpass.example"].content


def test_hba_has_a_replication_line_for_every_replica() -> None:
    """Coherence with the pg_hba part: the replicas this part bootstraps are let in."""
    replicas = [{"name": "r1", "host": "10.0.2.10"}, {"name": "r2", "host": "10.0.2.11"}]
    files = _files(replication={"replicas": replicas, "user": "streamer"})
    hba = [ln.split() for ln in files["pg_hba.conf"].content.splitlines() if ln.strip() and not ln.startswith("#")]
    for r in replicas:
        assert any(f[1] == "replication" and f[2] == "streamer" and f[3] == f"{r['host']}/32" for f in hba if len(f) > 3), hba


@pytest.mark.realpg
@pytest.mark.parametrize("major", MAJORS)
def test_every_major_accepts_the_replication_and_archive_settings(major: int) -> None:
    """The real postgres of each major parses the settings these sections add."""
    t = _tuning(pg_version=major, replication={"replicas": ONE, "mode": "sync"},
                archive={"target": "s3", "s3": {"bucket": "wal-bucket"}})
    conf = "\n".join(f"{s.name} = {s.text}" for s in t.settings if s.name in REP_SETTINGS
                     or s.name.startswith("archive_")) + "\n"
    names = [s.name for s in t.settings if s.name in REP_SETTINGS or s.name.startswith("archive_")]
    values = postgres_C(major, conf, names)
    assert values["wal_level"] == "replica" and values["archive_mode"] == "on"
    assert values["synchronous_standby_names"] == "ANY 1 (replica1)"
    assert values["archive_command"] == t.get("archive_command").value


@pytest.mark.parametrize("env", [
    {"PRIMARY_HOST": "db1' sslmode=disable"},
    {"PRIMARY_HOST": "db1\nrestore_command = 'sh -c id'"},
    {"PRIMARY_HOST": "db1", "PRIMARY_PORT": "5432 sslmode=disable"},
    {"PRIMARY_HOST": "db1", "REPLICATION_PASSFILE": "/tmp/x' host=evil"},
])
def test_bootstrap_refuses_environment_values_that_would_leave_their_place(tmp_path, env: dict[str, str]) -> None:
    # PRIMARY_HOST/PORT and the passfile come from the environment at run time, and go into a
    # libpq conninfo and a postgresql.auto.conf string: the script refuses them before pg_basebackup
    import os
    import subprocess

    script = tmp_path / "bootstrap.sh"
    script.write_text(_files(replication={"replicas": ONE})["replication/bootstrap_replica1.sh"].content)
    marker = tmp_path / "pg_basebackup"
    marker.write_text(f"#!/bin/sh\ntouch {tmp_path}/ran\n")
    marker.chmod(0o755)
    proc = subprocess.run(["bash", str(script), str(tmp_path / "data")], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{tmp_path}:{os.environ['PATH']}", "PGBIN": str(tmp_path), **env})
    assert proc.returncode == 1, proc.stderr
    assert "is not a" in proc.stderr and not (tmp_path / "ran").exists()


def _heredoc_settings(script: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines bootstrap_<replica>.sh appends to postgresql.auto.conf."""
    body = script.split('cat >>"$auto.new" <<SETTINGS\n', 1)[1].split("\nSETTINGS\n", 1)[0]
    return [(name.strip(), value.strip()) for line in body.splitlines()
            if not line.startswith(("#", "$")) for name, _, value in [line.partition("=")]]


@pytest.mark.parametrize("workload", ["oltp", "desktop"])
def test_bootstrap_standby_settings_are_the_rules_values(workload: str) -> None:
    """One source: the bootstrap script writes hot_standby and hot_standby_feedback with the values
    the rules put in postgresql.conf (bundle/replication.standby_settings), for the same spec."""
    from pgforge.bundle.replication import standby_settings
    from pgforge.rules.replication import STANDBY_RULES

    t = _tuning(workload=workload, replication={"replicas": ONE, "primary_host": "10.0.0.1"},
                archive={"target": "local", "local_dir": "/srv/wal"})
    files = {f.path: f for f in build_bundle(t)}
    written = _heredoc_settings(files["replication/bootstrap_replica1.sh"].content)
    assert written == standby_settings(t)
    for name in STANDBY_RULES:
        assert dict(written)[name] == t.get(name).text
        assert f"\n{name} = {t.get(name).text}\n" in files["postgresql.conf"].content
    assert dict(written)["hot_standby_feedback"] == ("off" if workload == "desktop" else "on")
    assert [n for n, _ in written] == ["primary_conninfo", "primary_slot_name", "hot_standby", "hot_standby_feedback",
                                       "port", "cluster_name"]


def test_bootstrap_follows_the_rule_value_it_is_given() -> None:
    """The script has no standby value of its own: a different hot_standby in the tuning is what it
    writes (before, the template wrote a literal ``hot_standby = on``)."""
    import dataclasses

    t = _tuning(replication={"replicas": ONE, "primary_host": "10.0.0.1"})
    t.settings = [dataclasses.replace(s, value=False) if s.name == "hot_standby" else s for s in t.settings]
    files = {f.path: f for f in build_bundle(t)}
    assert ("hot_standby", "off") in _heredoc_settings(files["replication/bootstrap_replica1.sh"].content)
