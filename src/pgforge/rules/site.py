"""Site settings the spec states outright: where the server listens, and its time zone and log
language. Not tuning, but a complete postgresql.conf needs them: without ``timezone`` a
replaced file silently moves the server to GMT, away from what initdb wrote."""

from __future__ import annotations

from pgforge.addresses import is_loopback
from pgforge.rules.base import PG_DOCS_CONNECTIONS, PG_DOCS_LOGGING, Kind, Recommendation, Source, rule
from pgforge.rules.context import Context

SPEC = Source("the host spec")


def _network_clients(ctx: Context) -> list[str]:
    """Non-loopback addresses that access lines or replicas need to reach the server from."""
    out = []
    for a in ctx.spec.access:
        if a.type == "local" or a.address is None or a.method == "reject":
            continue
        if is_loopback(a.address):
            continue  # keywords (samehost, samenet, all) and DNS suffixes reach over the network
        out.append(a.address)
    if ctx.spec.replication is not None:
        out.extend(r.host for r in ctx.spec.replication.replicas)
    return out


@rule("listen_addresses", Kind.string, "connections", tolerance=0.0)
def listen_addresses(ctx: Context) -> Recommendation:
    """Addresses the server listens on: the spec's list when it gives one; otherwise localhost,
    or every interface (``*``) when access lines or replicas must reach the server over the
    network, with pg_hba.conf deciding who gets in. Listening wider than the access lines need
    exposes the port for nothing; listening narrower silently locks the clients out."""
    if ctx.spec.listen_addresses is not None:
        value = ",".join(ctx.spec.listen_addresses)
        return ctx.make("listen_addresses", value, f"from the spec: {value}", PG_DOCS_CONNECTIONS, listen_addresses=value)
    clients = _network_clients(ctx)
    if clients:
        shown = ", ".join(clients[:3]) + (" ..." if len(clients) > 3 else "")
        return ctx.make("listen_addresses", "*",
                        f"'*': clients from {shown} must reach the server; pg_hba.conf admits only those lines",
                        PG_DOCS_CONNECTIONS, network_clients=clients)
    return ctx.make("listen_addresses", "localhost", "localhost: no access line or replica needs the network",
                    PG_DOCS_CONNECTIONS)


@rule("port", Kind.integer, "connections", tolerance=0.0)
def port(ctx: Context) -> Recommendation:
    """The TCP port, from the spec (default 5432)."""
    return ctx.make("port", ctx.spec.port, f"from the spec: {ctx.spec.port}", SPEC, port=ctx.spec.port)


@rule("timezone", Kind.string, "site", tolerance=0.0)
def timezone(ctx: Context) -> Recommendation:
    """Session time zone default, from the spec (default UTC), so replacing initdb's file does not
    move the server to GMT unannounced."""
    return ctx.make("timezone", ctx.spec.timezone, f"from the spec: {ctx.spec.timezone}", SPEC, timezone=ctx.spec.timezone)


@rule("log_timezone", Kind.string, "site", tolerance=0.0)
def log_timezone(ctx: Context) -> Recommendation:
    """Time zone of log timestamps: the same as ``timezone``, so logs and sessions agree."""
    return ctx.make("log_timezone", ctx.spec.timezone, "same as timezone so log and session times agree", PG_DOCS_LOGGING)


@rule("lc_messages", Kind.string, "site", tolerance=0.0)
def lc_messages(ctx: Context) -> Recommendation:
    """Server message language: C (English), which every system has and log analysers parse."""
    return ctx.make("lc_messages", "C", "C: always installed, and log analysers expect English", PG_DOCS_LOGGING)
