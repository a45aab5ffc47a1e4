"""ssl rules: the TLS settings of postgresql.conf that the ``access`` section drives.

A ``hostssl`` line in pg_hba.conf with ``ssl = off`` is fatal at start-up ("hostssl record
cannot match because SSL is disabled"), and ``ssl = on`` without a readable certificate and key is
fatal too. So when any access line needs TLS, these rules turn it on and name the files, relative
to the data directory, where the bundle's README says to put them. Without such lines they leave
the server default (off): no certificate to manage, nothing to go wrong. The bundle's parts
read the result through :func:`ssl_on`, never from the spec again.

ssl_min_protocol_version is left at its default, TLSv1.2 on every supported major (12+): writing
it out is blocked by catalog.check_value comparing enum names case-sensitively ('TLSv1.2').
"""

from __future__ import annotations

from pgforge.rules.base import Kind, Recommendation, Source, rule
from pgforge.rules.context import Context

PG_DOCS_SSL = Source("PostgreSQL docs, 20.3.3 SSL and 19.9 Secure TCP/IP Connections with SSL",
                     "https://www.postgresql.org/docs/current/ssl-tcp.html")
PG_DOCS_HBA = Source("PostgreSQL docs, 21.1 The pg_hba.conf File", "https://www.postgresql.org/docs/current/auth-pg-hba-conf.html")

#: File names inside the data directory (the server resolves relative paths against it).
CERT_FILE = "server.crt"
KEY_FILE = "server.key"
CA_FILE = "root.crt"


def ssl_on(tuning) -> bool:
    """Whether a tuning result turns ssl on: the value of the ``ssl`` rule below, the one answer
    every bundle part reads (bundle/pg_hba.py: hostssl replica lines and the TLS warning; bundle/replication.py:
    the replicas' sslmode)."""
    setting = tuning.get("ssl")
    return bool(setting and setting.value)


def _ssl_lines(ctx: Context) -> list[str]:
    """access entries that need TLS, as 'type database user address' for the rationale."""
    return [f"{r.type} {r.database} {r.user} {r.address}" for r in ctx.spec.access if r.needs_ssl]


@rule("ssl", Kind.bool, "ssl", tolerance=0.0)
def ssl(ctx: Context) -> Recommendation | None:
    """TLS for client connections: on when an access line is ``hostssl`` or uses ``cert``.

    PostgreSQL refuses to start with a hostssl line and ssl off, so the access section decides.
    With no such line the server default (off) stays.
    """
    lines = _ssl_lines(ctx)
    if not lines:
        return None
    return ctx.make("ssl", True, f"{len(lines)} access line(s) need TLS ({lines[0]}); a hostssl line with ssl off stops the server",
                    PG_DOCS_HBA, ssl_lines=lines)


@rule("ssl_cert_file", Kind.string, "ssl", tolerance=0.0)
def ssl_cert_file(ctx: Context) -> Recommendation | None:
    """The server certificate, ``server.crt`` in the data directory, stated explicitly (Debian's
    postgresql.conf points elsewhere, at the snakeoil certificate), whenever ssl is on."""
    if not ctx.value("ssl"):
        return None
    return ctx.make("ssl_cert_file", CERT_FILE, f"certificate at $PGDATA/{CERT_FILE} (readable by the postgres user)", PG_DOCS_SSL)


@rule("ssl_key_file", Kind.string, "ssl", tolerance=0.0)
def ssl_key_file(ctx: Context) -> Recommendation | None:
    """The private key, ``server.key`` in the data directory. The server refuses a key file that
    group or others can read (unless root owns it with mode 0640), so: owner postgres, mode 0600."""
    if not ctx.value("ssl"):
        return None
    return ctx.make("ssl_key_file", KEY_FILE, f"key at $PGDATA/{KEY_FILE}, owner postgres, mode 0600", PG_DOCS_SSL)


@rule("ssl_ca_file", Kind.string, "ssl", tolerance=0.0)
def ssl_ca_file(ctx: Context) -> Recommendation | None:
    """CA certificates that sign client certificates: needed when an access line uses ``cert`` or
    ``clientcert=verify-ca|verify-full``, which pg_hba.conf rejects without a root certificate store."""
    if not ctx.value("ssl") or not any(r.checks_client_certificates for r in ctx.spec.access):
        return None
    return ctx.make("ssl_ca_file", CA_FILE, f"client-certificate CA at $PGDATA/{CA_FILE}; cert lines need it", PG_DOCS_HBA)

