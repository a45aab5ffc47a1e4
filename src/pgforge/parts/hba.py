"""Bundle part: pg_hba.conf from the spec's ``access`` section, plus the lines the rest of the
bundle needs to work (see parts/__init__.py for the contract).

PostgreSQL uses the first line that matches type, database, user and address, so the order is
the policy. pgforge writes ``local all postgres peer`` first (the OS account keeps its way in
whatever else is written), then every other line most specific first: local before TCP, then
narrower address, then named database, then named user, then hostssl/hostnossl before host; the
order in the spec only breaks ties. To deny something, write a more specific ``reject`` line. A
line that an earlier one fully covers can never match and is flagged.

Beside the spec's lines it adds, unless a spec line already decides that traffic: one
``replication`` line per replica (user ``replication.user``, the replica's address as /32 or
/128) and, when PgBouncer is enabled with a loopback server_host, the loopback line PgBouncer
logs in through. Every password line is scram-sha-256 unless the spec says otherwise.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from pgforge import __version__
from pgforge.render.escape import Escaped, hba_keyword, hba_list, hba_option, hba_token
from pgforge.render.templates import render
from pgforge.rules.ssl import CA_FILE, CERT_FILE, KEY_FILE
from pgforge.sections.access import HOST_TYPES, AccessRule
from pgforge.spec import HostSpec
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

PATH = "pg_hba.conf"


@dataclass(frozen=True)
class HbaLine:
    """One pg_hba.conf record, where it came from, and the comments written above it."""

    type: str
    database: str
    user: str
    address: str | None
    method: str
    options: tuple[tuple[str, str], ...] = ()
    origin: str = ""
    notes: tuple[str, ...] = ()
    order: int = 0  # position in the spec (ties keep it)

    @property
    def databases(self) -> list[str]:
        return self.database.split(",")

    @property
    def users(self) -> list[str]:
        return self.user.split(",")

    def text(self) -> Escaped:
        """The record as one pg_hba.conf line, every field escaped (render/escape.py)."""
        opts = " ".join(hba_option(k, v) for k, v in self.options)
        address = hba_token(self.address) if self.address is not None else ""
        cols = [hba_keyword(self.type).ljust(7), hba_list(self.database).ljust(15), hba_list(self.user).ljust(15),
                address.ljust(23), (hba_keyword(self.method) + (" " + opts if opts else ""))]
        return Escaped(" ".join(cols).rstrip())


@dataclass
class HbaPlan:
    lines: list[HbaLine]
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- matching logic


def _network(address: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if address is None:
        return None
    try:
        return ipaddress.ip_network(address, strict=False)
    except ValueError:
        return None


def address_specificity(address: str | None) -> float:
    """0 (any address) .. 1 (one host); keywords and names get their usual reach."""
    if address is None:
        return 1.0
    net = _network(address)
    if net is not None:
        return net.prefixlen / net.max_prefixlen
    if address == "all":
        return 0.0
    if address in ("samenet",) or address.startswith("."):
        return 0.5
    return 1.0  # samehost, or a host name


def _name_specificity(tokens: list[str]) -> int:
    if "all" in tokens:
        return 0
    if any(t.startswith(("+", "@")) or t in ("sameuser", "samerole", "samegroup") for t in tokens):
        return 1
    return 2


def specificity_key(line: HbaLine) -> tuple:
    """Sort key: most specific first; spec order breaks ties."""
    return (0 if line.type == "local" else 1,
            -address_specificity(line.address),
            -_name_specificity(line.databases),
            -_name_specificity(line.users),
            0 if line.type in ("hostssl", "hostnossl", "hostgssenc", "hostnogssenc") else 1,
            line.order)


def _type_covers(a: str, b: str) -> bool:
    if a == b:
        return True
    return a == "host" and b in HOST_TYPES


def _db_covers(a: list[str], b: list[str]) -> bool:
    if "all" in a:
        return "replication" not in b  # 'all' does not match physical replication connections
    return set(b) <= set(a)


def _user_covers(a: list[str], b: list[str]) -> bool:
    return "all" in a or ("all" not in b and set(b) <= set(a))


def _address_covers(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if a == "all":
        return True
    na, nb = _network(a), _network(b)
    if na is not None and nb is not None:
        return na.version == nb.version and nb.subnet_of(na)  # type: ignore[arg-type]
    return a == b


def covers(a: HbaLine, b: HbaLine) -> bool:
    """True when every connection ``b`` matches is matched by ``a`` (so ``b`` after ``a`` is dead)."""
    return (_type_covers(a.type, b.type) and _db_covers(a.databases, b.databases)
            and _user_covers(a.users, b.users) and _address_covers(a.address, b.address))


def _decides(a: HbaLine, b: HbaLine) -> bool:
    """True when the spec line ``a`` already speaks for the traffic of generated line ``b``, whatever its type."""
    same_kind = (a.type == "local") == (b.type == "local")
    return (same_kind and _db_covers(a.databases, b.databases) and _user_covers(a.users, b.users)
            and _address_covers(a.address, b.address))


# --------------------------------------------------------------------------- building the plan


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_network(address, strict=False).is_loopback
    except ValueError:
        return address == "localhost"


def _host_cidr(host: str) -> str | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"{ip}/{ip.max_prefixlen}"


def _from_access(i: int, rule: AccessRule) -> tuple[HbaLine, list[str]]:
    notes: list[str] = [f"access[{i}] in the spec"]
    warnings: list[str] = []
    where = f"{rule.type} {rule.database} {rule.user} {rule.address or ''}".rstrip()
    if rule.method == "trust":
        if rule.is_host:
            msg = (f"pg_hba.conf line '{where} trust' (access[{i}]): ANYONE who can reach the server from "
                   f"{rule.address} connects as {rule.user} WITHOUT A PASSWORD")
        else:
            msg = f"pg_hba.conf line '{where} trust' (access[{i}]): every local OS user connects as {rule.user} without a password"
        warnings.append(msg)
        notes.append("!!! WARNING: trust = NO AUTHENTICATION. " + msg.split(": ", 1)[1] + ". Asked for explicitly in the spec.")
    elif rule.method == "password" and rule.type != "hostssl":
        msg = f"pg_hba.conf line '{where} password' (access[{i}]) sends the password in clear text; use scram-sha-256"
        warnings.append(msg)
        notes.append("WARNING: " + msg)
    elif rule.method == "md5":
        notes.append("md5: with password_encryption = scram-sha-256 the stored secrets are SCRAM, and an md5 line "
                     "then authenticates with SCRAM anyway; prefer writing scram-sha-256")
    return HbaLine(rule.type, rule.database, rule.user, rule.address, rule.method, tuple(rule.options.items()),
                   f"access[{i}]", tuple(notes), i), warnings


def _generated(spec: HostSpec) -> tuple[list[HbaLine], list[str]]:
    lines: list[HbaLine] = []
    warnings: list[str] = []
    base = 100_000  # after every spec line when specificity ties
    rep = spec.replication
    # With ssl on (some access line needs TLS), replicas connect with sslmode=require
    # (sections/replication.py), so their lines demand TLS too.
    replica_type = "hostssl" if any(r.needs_ssl for r in spec.access) else "host"
    if rep is not None:
        for k, replica in enumerate(rep.replicas):
            cidr = _host_cidr(replica.host)
            note = f"replica {replica.name}: streaming replication as {rep.user} (replication section)"
            if cidr is None:
                cidr = replica.host
                note += "; a host name matches only if its forward and reverse DNS both resolve to the client address"
            lines.append(HbaLine(replica_type, "replication", rep.user, cidr, "scram-sha-256", (), f"replica {replica.name}",
                                 (note,), base + k))
    pgb = spec.pgbouncer
    if pgb is not None and pgb.enabled:
        hosts = {"localhost": ["127.0.0.1/32", "::1/128"]}.get(pgb.server_host)
        if hosts is None:
            cidr = _host_cidr(pgb.server_host)
            hosts = [cidr] if cidr is not None and ipaddress.ip_network(cidr).is_loopback else []
        for k, cidr in enumerate(hosts):
            lines.append(HbaLine("host", ",".join(pgb.databases), "all", cidr, "scram-sha-256", (), "pgbouncer",
                                 ("PgBouncer logs in to the server over loopback with each client's SCRAM secret",),
                                 base + 1000 + k))
    return lines, warnings


def plan(spec: HostSpec) -> HbaPlan:
    """The ordered pg_hba.conf lines for ``spec`` and the warnings they carry."""
    first = HbaLine("local", "all", "postgres", None, "peer", (), "pgforge",
                    ("the postgres OS account, for maintenance and the bundle's scripts; first so nothing shadows it",), -1)
    # "all" does not match replication connections: pg_basebackup over the socket (the bundle's
    # base_backup.sh, a replica bootstrap run on this host) needs its own line.
    second = HbaLine("local", "replication", "postgres", None, "peer", (), "pgforge",
                     ("the postgres OS account's physical backups (pg_basebackup) over the local socket",), -1)
    warnings: list[str] = []
    spec_lines: list[HbaLine] = []
    ssl_on = any(r.needs_ssl for r in spec.access)
    for i, rule in enumerate(spec.access):
        line, warns = _from_access(i, rule)
        warnings.extend(warns)
        if ssl_on and rule.type == "host" and rule.method != "reject" and not _loopback(rule.address):
            warnings.append(f"pg_hba.conf line 'host {rule.database} {rule.user} {rule.address}' (access[{i}]) admits "
                            "connections without TLS although ssl is on; use hostssl (the audit reports it as PGF206)")
        if line.type == first.type and line.database == first.database and line.user == first.user:
            warnings.append(f"access[{i}] (local all postgres) is replaced by pgforge's 'local all postgres peer', which comes first")
            continue
        spec_lines.append(line)
    generated, gen_warnings = _generated(spec)
    warnings.extend(gen_warnings)
    for line in generated:
        decided = [s for s in spec_lines if _decides(s, line)] if line.origin.startswith("replica") else \
                  [s for s in spec_lines if covers(s, line)]
        if not decided:
            spec_lines.append(line)
            continue
        keeper = decided[0]
        spec_lines[spec_lines.index(keeper)] = replace(
            keeper, notes=(*keeper.notes, f"also serves {line.origin} (pgforge adds no line of its own for it)"))
    ordered = sorted(spec_lines, key=specificity_key)
    out = [first, second]
    for line in ordered:
        shadow = next((earlier for earlier in out if covers(earlier, line)), None)
        if shadow is not None:
            desc = f"{line.type} {line.database} {line.user} {line.address or ''}".strip()
            warnings.append(f"pg_hba.conf line '{desc}' ({line.origin}) never matches: the line from {shadow.origin} "
                            "before it covers every connection it would match")
            line = replace(line, notes=(*line.notes, f"NEVER MATCHES: the line from {shadow.origin} above covers it"))
        out.append(line)
    return HbaPlan(out, warnings)


def warnings(t: Tuning) -> list[str]:
    """What the user must know about pg_hba.conf beyond the rule notes (proposed part API)."""
    if not _wanted(t.spec):
        return []
    return plan(t.spec).warnings


def _wanted(spec: HostSpec) -> bool:
    return bool(spec.access) or bool(spec.replication and spec.replication.replicas) or bool(spec.pgbouncer and spec.pgbouncer.enabled)


def files(t: Tuning) -> list[OutFile]:
    if not _wanted(t.spec):
        return []
    p = plan(t.spec)
    ssl = t.get("ssl")
    content = render("pg_hba.conf.j2", version=__version__, spec=t.spec, lines=p.lines, warnings=p.warnings,
                     ssl_on=bool(ssl and ssl.value), ca=bool(t.get("ssl_ca_file")),
                     cert_file=CERT_FILE, key_file=KEY_FILE, ca_file=CA_FILE)
    purpose = "client authentication: copy into the data directory (or point hba_file at it)"
    if p.warnings:
        purpose += f"; {len(p.warnings)} WARNING(S) inside"
    return [OutFile(PATH, content, 0o600, purpose, "reload")]
