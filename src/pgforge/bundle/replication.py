"""Bundle part: streaming and logical replication (see bundle/__init__.py for the contract).

Files, when the spec has a ``replication:`` section:

- ``replication/primary_setup.sql``: the replication role (no password) and one physical slot per replica;
- ``replication/bootstrap_<replica>.sh``: pg_basebackup -X stream -R -S <replica> and the standby settings;
- ``replication/pgpass.example``: the passfile lines replicas need, without the secret;
- ``replication/<publication>_publication.sql`` / ``_subscription.sql`` when logical replication is asked.

The primary-side settings (wal_level, max_wal_senders, slots, synchronous_standby_names, ...) are
rules (rules/replication.py) and land in postgresql.conf; the standby settings each bootstrap script
writes into the replica's postgresql.auto.conf are :func:`standby_settings`, with the values of the
standby-side rules (rules/replication.py ``STANDBY_RULES``) and the restore_command of the archive
(spec/archive.py). The pg_hba.conf lines for the replicas come from the same ``replicas`` and
``user`` fields in the hba part; the spec section is spec/replication.py.

Seen from these files: their input is spec/replication.py, the primary-side values beside them
in postgresql.conf are rules/replication.py, the replicas' pg_hba.conf lines are bundle/pg_hba.py,
and the audit's checks on what they set up are PGF402 (coherence.py) and PGF106 (durability.py)
in audit/checks/.
"""

from __future__ import annotations

import re

from pgforge.addresses import is_loopback, is_wildcard
from pgforge.bundle.archive import PRIVATE, PUBLIC, SCRIPT, common_context, restore_conf_line
from pgforge.render.escape import file_component, sql_ident
from pgforge.render.templates import render
from pgforge.rules.replication import STANDBY_RULES
from pgforge.rules.ssl import ssl_on
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

#: A postgresql.conf value that needs no quoting, in postgresql.conf or in the script's heredoc.
_PLAIN_CONF_WORD = re.compile(r"[A-Za-z0-9_.-]+")


def primary_host(t: Tuning) -> str:
    """How replicas reach the primary: the spec's primary_host, else the first listen address
    that names one host (not localhost or a wildcard), else empty (the scripts then ask for
    PRIMARY_HOST)."""
    rep = t.spec.replication
    if rep and rep.primary_host:
        return rep.primary_host
    for address in t.spec.listen_addresses or ():
        if not is_wildcard(address) and not is_loopback(address):
            return address
    return ""


def server_ssl(t: Tuning) -> bool:
    """Whether the primary's postgresql.conf turns ssl on (set by the ssl rule when TLS is asked)."""
    return ssl_on(t)


def standby_settings(t: Tuning) -> list[tuple[str, str]]:
    """``(name, value)`` in the order bootstrap_<replica>.sh writes them into the replica's
    postgresql.auto.conf (an unquoted shell heredoc): the connection to the primary and the
    replica's identity are the script's run-time variables (``$conninfo``, ``$name``,
    ``$replica_port``); hot_standby and hot_standby_feedback are the values of the rules that
    also put them in postgresql.conf. The restore_command line follows when there is an archive.
    """
    rules = []
    for name in STANDBY_RULES:
        setting = t.get(name)
        if setting is None or not _PLAIN_CONF_WORD.fullmatch(setting.text):  # pragma: no cover - a bug if reached
            raise AssertionError(f"standby setting {name} has no plain value for a replica: {setting}")
        rules.append((name, setting.text))
    return [("primary_conninfo", "'$conninfo'"), ("primary_slot_name", "'$name'"), *rules,
            ("port", "$replica_port"), ("cluster_name", "'$name'")]


def publication_scope(pub) -> str:
    """What ``CREATE PUBLICATION ... FOR`` names: the spec's tables (each an SQL identifier), or
    ``ALL TABLES`` when it lists none."""
    return "TABLE " + ", ".join(sql_ident(table) for table in pub.tables) if pub.tables else "ALL TABLES"


def warnings(t: Tuning) -> list[str]:
    """What the replication files cannot settle by themselves: an unknown primary address, and
    replication traffic that may travel unencrypted."""
    rep = t.spec.replication
    if rep is None or not (rep.replicas or rep.wants_logical):
        return []
    out = []
    if not primary_host(t):
        out.append("replication.primary_host is not set: the replica bootstrap scripts need PRIMARY_HOST=<primary address> "
                   "in their environment (and the subscription SQL -v primary_host=...)")
    sslmode = rep.conn_sslmode(server_ssl(t))
    if sslmode in ("disable", "allow", "prefer"):
        out.append(f"replication connections use sslmode={sslmode}: WAL, which is all of the data, may cross the network "
                   "unencrypted; turn ssl on at the primary (a hostssl access line does) or set replication.sslmode: require")
    return out


def files(t: Tuning) -> list[OutFile]:
    spec = t.spec
    rep = spec.replication
    if rep is None:
        return []
    host = primary_host(t)
    ctx = common_context(spec)
    ctx.update(rep=rep, primary_host=host, sslmode=rep.conn_sslmode(server_ssl(t)),
               restore_line=restore_conf_line(spec.archive) if spec.archive else "",
               pgpass_host=host or "PRIMARY")
    out = [OutFile("replication/primary_setup.sql", render("scripts/primary_setup.sql.j2", replicas=rep.replicas, **ctx),
                   PUBLIC, "run once on the primary: replication role (no password) and one slot per replica", "run")]
    standby = standby_settings(t) if rep.replicas else []
    for replica in rep.replicas:
        out.append(OutFile(f"replication/bootstrap_{file_component(replica.name)}.sh",
                           render("scripts/bootstrap_replica.sh.j2", replica=replica, standby=standby, **ctx), SCRIPT,
                           f"run on {replica.host} as postgres: clone the primary into an empty data directory "
                           f"(pg_basebackup -X stream -R -S {replica.name}) and write its standby settings", "run"))
    if rep.replicas or rep.wants_logical:
        out.append(OutFile("replication/pgpass.example", render("scripts/pgpass.example.j2", **ctx), PRIVATE,
                           f"shape of the passfile {rep.passfile} on replicas/subscribers (no secret; mode 0600)", "reference"))
    for pub in rep.publications:
        out.append(OutFile(f"replication/{file_component(pub.name)}_publication.sql",
                           render("scripts/logical_publication.sql.j2", pub=pub, scope=publication_scope(pub), **ctx),
                           PUBLIC,
                           f"run on the primary in database {pub.database}: publication {pub.name}", "run"))
        out.append(OutFile(f"replication/{file_component(pub.name)}_subscription.sql",
                           render("scripts/logical_subscription.sql.j2", pub=pub, **ctx), PUBLIC,
                           f"run on the subscriber: subscription {pub.subscription} to publication {pub.name}", "run"))
    return out
