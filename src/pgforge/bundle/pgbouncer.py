"""Bundle part: PgBouncer's pgbouncer.ini, a userlist.txt without secrets, and the systemd
drop-in that raises its file-descriptor limit (see bundle/__init__.py for the contract).

The pools are the plan the max_connections rule sized the server from, carried on the tuning
result (``Tuning.pools``, computed once by rules/connections.py ``pool_sizing``), and are checked
with pooling.check before anything is rendered: a bundle whose pools do not fit its own server is
a pgforge bug. The audit's counterpart is PGF401 (audit/checks/coherence.py), with the same check.

PgBouncer's ini dialect shapes the template: a comment is a line that *starts* with ``;`` or
``#`` (``pool_mode = transaction ; x`` makes the value ``transaction ; x``), times are bare
seconds, 1.18 rejects a ``[peers]`` section (1.19+) and ``max_prepared_statements`` (1.21+).

Seen from these files: their input is spec/pgbouncer.py, the pool plan rules/connections.py,
the line PgBouncer logs in through bundle/pg_hba.py; the audit reads a pgbouncer.ini back with
parsers/pgbouncer_ini.py and judges it in audit/checks/ (PGF005 validity.py, PGF210
pgbouncer_security.py, PGF212 file_security.py, PGF401 coherence.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from pgforge import __version__, pooling
from pgforge.addresses import all_loopback, listens_on
from pgforge.render.escape import Escaped, pgbouncer_connstr, pgbouncer_key
from pgforge.render.templates import render
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

INI_PATH = "pgbouncer/pgbouncer.ini"
USERLIST_PATH = "pgbouncer/userlist.txt"
LIMITS_PATH = "pgbouncer/pgbouncer.service.d/limits.conf"

# Where Debian's pgbouncer package looks (its unit runs /usr/sbin/pgbouncer /etc/pgbouncer/pgbouncer.ini
# as user postgres); absolute, since PgBouncer resolves relative paths against its working directory.
AUTH_FILE = "/etc/pgbouncer/userlist.txt"
LOGFILE = "/var/log/postgresql/pgbouncer.log"
PIDFILE = "/var/run/postgresql/pgbouncer.pid"
UNIX_SOCKET_DIR = "/var/run/postgresql"

#: Seconds (PgBouncer takes bare seconds; a unit suffix stops it loading the file).
SERVER_LIFETIME = 3600
SERVER_IDLE_TIMEOUT = 600
SERVER_CONNECT_TIMEOUT = 15
SERVER_LOGIN_RETRY = 15
QUERY_WAIT_TIMEOUT = 120
CLIENT_LOGIN_TIMEOUT = 60
IDLE_TRANSACTION_TIMEOUT = 300
#: PgBouncer 1.24's default; 1.21-1.23 default to 0 (tracking off), so it is written explicitly.
MAX_PREPARED_STATEMENTS = 200

@dataclass(frozen=True)
class Entry:
    """One ``key = value`` line of pgbouncer.ini with the comment written above it."""

    key: str
    value: str
    why: str


def enabled(t: Tuning) -> bool:
    return t.spec.pgbouncer is not None and t.spec.pgbouncer.enabled


def plan_for_tuning(t: Tuning) -> pooling.PoolPlan:
    """The pools the tuning carries (``t.pools``, computed once by the max_connections rule),
    proven to fit its max_connections and the stated descriptor limit."""
    if t.pools is None:  # pragma: no cover - files() asks only when PgBouncer is enabled
        raise AssertionError("pgbouncer enabled but the tuning carries no pool plan")
    problems = t.pools.check(int(t.get("max_connections").value))
    if problems:  # pragma: no cover - the rule sized max_connections from this plan; a bug if reached
        raise AssertionError("pgbouncer pools incoherent with max_connections: " + "; ".join(p.message for p in problems))
    return t.pools.plan


def warnings(t: Tuning) -> list[str]:
    """What the user must know about the PgBouncer files beyond the rule notes (proposed part API)."""
    if not enabled(t):
        return []
    pgb = t.spec.pgbouncer
    out: list[str] = []
    if not pgb.tls and not all_loopback(pgb.listen_addr):
        out.append(f"PgBouncer listens on {pgb.listen_addr} without TLS: passwords are SCRAM, but queries and results "
                   "cross the network in clear text (pgbouncer: {tls: true})")
    if not all_loopback(pgb.server_host):
        out.append(f"PgBouncer reaches the server at {pgb.server_host}: pg_hba.conf there must allow the PgBouncer "
                   "host for these databases (pgforge adds the line only for a loopback server_host)")
    else:
        listen = [a.strip() for a in str(t.get("listen_addresses").value).split(",")] if t.get("listen_addresses") else []
        if not listens_on(listen, pgb.server_host):
            out.append(f"PgBouncer connects to {pgb.server_host}, but listen_addresses ({','.join(listen)}) "
                       "does not include it: add localhost")
    return out


def _entries(t: Tuning, plan: pooling.PoolPlan) -> list[tuple[str, list[Entry]]]:
    pgb = t.spec.pgbouncer
    version = pgb.version_tuple
    transactional = plan.pool_mode != "session"
    where = [
        Entry("listen_addr", pgb.listen_addr, "where clients connect (a restart is needed to change it)"),
        Entry("listen_port", str(pgb.listen_port), "clients use this port instead of the server's"),
        Entry("unix_socket_dir", UNIX_SOCKET_DIR, "Unix socket beside the server's (Debian layout)"),
        Entry("logfile", LOGFILE, "log file (Debian layout)"),
        Entry("pidfile", PIDFILE, "pid file (Debian layout)"),
    ]
    auth = [
        Entry("auth_type", "scram-sha-256",
              "SCRAM for every client; the same SCRAM secrets log PgBouncer in to the server"),
        Entry("auth_file", AUTH_FILE, "users and their SCRAM secrets (userlist.txt in this bundle; pgforge writes no secrets)"),
        Entry("admin_users", ", ".join(pgb.admin_users), "may run every admin console command (SHOW, PAUSE, RELOAD ...)"),
        Entry("stats_users", ", ".join(pgb.stats_users), "may run read-only SHOW commands on the admin console"),
        Entry("ignore_startup_parameters", "extra_float_digits",
              "JDBC sends extra_float_digits at connect; without this PgBouncer refuses those clients"),
    ]
    pool_why = {
        "cpus": f"{plan.active_target} active server connections for {t.spec.cpus} CPUs (cores x 2 + spindles, "
                f"PostgreSQL wiki) split over {len(plan.databases)} database(s)",
        "clients": "no more server connections than clients" if transactional
                   else "session mode: one server connection per client",
        "spec": "pool_size from the spec",
        "server connections": "shrunk to fit the server's max_connections within the memory budget",
    }[plan.limited_by]
    pools = [
        Entry("pool_mode", plan.pool_mode,
              "server connection returns to the pool after each transaction" if plan.pool_mode == "transaction"
              else ("after each statement" if plan.pool_mode == "statement" else "a client keeps its server connection")),
        Entry("max_client_conn", str(plan.max_client_conn),
              f"{plan.client_connections} clients from the spec + {pooling.ADMIN_CLIENT_SLACK} for the admin console"),
        Entry("default_pool_size", str(plan.default_pool_size), f"server connections per database and user: {pool_why}"),
        Entry("reserve_pool_size", str(plan.reserve_pool_size),
              "extra connections for bursts, opened after a client has waited reserve_pool_timeout"
              if plan.reserve_pool_size else "no reserve pool"),
    ]
    if plan.reserve_pool_size:
        pools.append(Entry("reserve_pool_timeout", str(pooling.RESERVE_POOL_TIMEOUT), "seconds a client waits before the reserve opens"))
    pools.append(Entry("max_db_connections", str(plan.max_db_connections),
                       f"cap per database whatever the number of users: pool + reserve; {len(plan.databases)} x "
                       f"{plan.max_db_connections} = {plan.server_connections} fits max_connections "
                       f"{t.get('max_connections').value} with its reserved and maintenance slots"))
    if transactional and pooling.version_at_least(version, (1, 21)):
        pools.append(Entry("max_prepared_statements", str(MAX_PREPARED_STATEMENTS),
                           "track protocol-level prepared statements across server connections (PgBouncer 1.21+)"))
    timeouts = [
        Entry("server_lifetime", str(SERVER_LIFETIME), "seconds; server connections are renewed hourly"),
        Entry("server_idle_timeout", str(SERVER_IDLE_TIMEOUT), "seconds an unused server connection stays open"),
        Entry("server_connect_timeout", str(SERVER_CONNECT_TIMEOUT), "seconds to establish a server connection"),
        Entry("server_login_retry", str(SERVER_LOGIN_RETRY), "seconds to wait after a failed server login"),
        Entry("query_wait_timeout", str(QUERY_WAIT_TIMEOUT),
              "seconds a client may queue for a server connection before it gets an error"),
        Entry("client_login_timeout", str(CLIENT_LOGIN_TIMEOUT), "seconds a client has to finish logging in"),
    ]
    if transactional:
        timeouts.append(Entry("idle_transaction_timeout", str(IDLE_TRANSACTION_TIMEOUT),
                              "seconds; a client idle in a transaction holds a pooled server connection, "
                              "so a leaked transaction is cut after 5 minutes"))
    groups = [("where clients connect", where), ("authentication", auth), ("pools", pools), ("timeouts (bare seconds)", timeouts)]
    if pgb.tls:
        groups.append(("TLS for clients", [
            Entry("client_tls_sslmode", "require", "clients must use TLS"),
            Entry("client_tls_cert_file", pgb.tls_cert_file, "certificate PgBouncer presents (readable by the postgres user)"),
            Entry("client_tls_key_file", pgb.tls_key_file, "its private key (mode 0600, owned by the postgres user)"),
            Entry("client_tls_protocols", "secure", "TLS 1.2 and 1.3 only"),
        ]))
    # Values are escaped (refused when they cannot be written) by the template's pgbouncer_value filter.
    return [(title, [e for e in entries if e.value != ""]) for title, entries in groups]


def _database_lines(t: Tuning) -> list[str]:
    pgb = t.spec.pgbouncer
    return [Escaped(f"{pgbouncer_key(db)} = "
                    + pgbouncer_connstr([("host", pgb.server_host), ("port", t.spec.port), ("dbname", db)]))
            for db in pgb.databases]


def expected_users(t: Tuning) -> list[str]:
    """Users the userlist must hold: the spec's pgbouncer users (else the named users of the access
    lines for the pooled databases) and the console users."""
    pgb = t.spec.pgbouncer
    pooled = set(pgb.databases)
    app_users = list(pgb.users)
    for rule in t.spec.access if not app_users else ():
        dbs = set(rule.databases)
        if (dbs & pooled or "all" in dbs) and rule.user not in ("all",) and rule.type != "local":
            app_users.extend(u for u in rule.users if u and not u.startswith(("+", "@", "/")))
    return list(dict.fromkeys([*app_users, *pgb.admin_users, *pgb.stats_users]))


def userlist_sql(users: list[str]) -> str:
    """One-line query a superuser runs on the server to print userlist.txt lines with the SCRAM secrets.

    Only single quotes, so it fits in ``psql -c "..."``; chr(34) is the double quote PgBouncer wants.
    A ``$`` in a role name (PostgreSQL allows it) is spelled chr(36): inside the shell's double
    quotes it would start a parameter expansion.
    """
    def literal(name: str) -> str:
        quoted = "'" + name.replace("'", "''") + "'"
        return quoted.replace("$", "' || chr(36) || '") if "$" in name else quoted

    names = ", ".join(literal(u) for u in users)
    return ("SELECT chr(34) || replace(rolname, chr(34), chr(34) || chr(34)) || chr(34) || ' ' || chr(34) || "
            f"rolpassword || chr(34) FROM pg_authid WHERE rolname IN ({names}) AND rolpassword IS NOT NULL ORDER BY rolname")


def files(t: Tuning) -> list[OutFile]:
    if not enabled(t):
        return []
    pgb = t.spec.pgbouncer
    plan = plan_for_tuning(t)
    notes = warnings(t)
    ini = render("pgbouncer.ini.j2", version=__version__, spec=t.spec, pgb=pgb, plan=plan,
                 databases=_database_lines(t), groups=_entries(t, plan),
                 caveats=pooling.caveats(plan.pool_mode, pgb.version_tuple), warnings=notes,
                 max_connections=t.get("max_connections").value, limits_path=LIMITS_PATH,
                 console_user=pgb.admin_users[0] if pgb.admin_users else "ADMIN")
    users = expected_users(t)
    userlist = render("userlist.txt.j2", version=__version__, users=users, sql=userlist_sql(users),
                      auth_file=AUTH_FILE, admin_users=pgb.admin_users, stats_users=pgb.stats_users)
    limits = (f"# {LIMITS_PATH} written by pgforge {__version__}\n"
              f"# Install as /etc/systemd/system/pgbouncer.service.d/limits.conf, then:\n"
              f"#   systemctl daemon-reload && systemctl restart pgbouncer\n"
              f"# PgBouncer needs max_client_conn {plan.max_client_conn} + {plan.server_connections} server "
              f"connections + {pooling.FD_OVERHEAD} = {plan.fd_needed} descriptors; Debian's unit leaves the soft "
              f"limit at 1024.\n"
              f"# Without systemd: ulimit -n {plan.fd_limit} in the script that starts PgBouncer.\n"
              f"[Service]\nLimitNOFILE={plan.fd_limit}\n")
    return [
        OutFile(INI_PATH, ini, 0o644,
                "PgBouncer configuration: install as /etc/pgbouncer/pgbouncer.ini; a restart applies listen_* changes, "
                "RELOAD (or systemctl reload pgbouncer) applies pool sizes and timeouts", "restart"),
        OutFile(USERLIST_PATH, userlist, 0o600,
                "PgBouncer auth_file template without secrets: fill it with the query inside, install as "
                f"{AUTH_FILE} (owner postgres, mode 0600), then RELOAD", "reload"),
        OutFile(LIMITS_PATH, limits, 0o644,
                f"systemd drop-in raising PgBouncer's open-file limit to {plan.fd_limit}: "
                "/etc/systemd/system/pgbouncer.service.d/limits.conf, then daemon-reload and restart", "restart"),
    ]
