"""Bundle part: pg_hba.conf from the spec's ``access`` section, plus the lines the rest of the
bundle needs to work (see bundle/__init__.py for the contract).

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

What a line matches and what is said about it come from hba_semantics.py, the module the audit
(audit/checks/hba_security.py, PGF201-PGF209) uses too: each line is read back with the server's
tokenizer (parsers/hba.py) and judged there, so every warning here is a finding there for the same
line, and the reverse (tests/test_hba_semantics.py). Whether ssl is on is the ssl rule's value
(rules/ssl.py). Counterparts: spec/access.py (the spec's ``access`` section), rules/ssl.py.

Seen from this file: its input is spec/access.py, whether ssl is on is rules/ssl.py, line
semantics are hba_semantics.py; the audit reads a pg_hba.conf back with parsers/hba.py and judges
it in audit/checks/ (PGF201-PGF209 hba_security.py, PGF402 coherence.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from pgforge import __version__, hba_semantics
from pgforge.addresses import is_loopback
from pgforge.render.escape import Escaped, hba_keyword, hba_list, hba_option, hba_token
from pgforge.render.templates import render
from pgforge.rules.ssl import CA_FILE, CERT_FILE, KEY_FILE, ssl_on
from pgforge.spec import HostSpec
from pgforge.spec.access import AccessRule
from pgforge.tuning import Tuning
from pgforge.writer import OutFile

if TYPE_CHECKING:
    from pgforge.parsers.hba import HbaRule

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
    warned: tuple[str, ...] = ()  # the audit checks (PGF2xx) the warnings on this line correspond to

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

    @property
    def record(self) -> HbaRule:
        """The line as the server reads it back (parsers/hba.py), options aside: what
        hba_semantics judges, exactly as the audit judges the written file."""
        return _read(str(replace(self, options=()).text()))


@lru_cache(maxsize=4096)
def _read(text: str) -> HbaRule:
    # imported here: a bundle without pg_hba lines to judge (no access, replicas or pooler) does
    # not pay for the tokenizer's regular expressions at start-up
    from pgforge.parsers.hba import parse_hba

    read = parse_hba(text, PATH)
    if len(read.rules) != 1:  # pragma: no cover - spec/access.py refuses what the server would
        raise AssertionError(f"pgforge wrote a pg_hba.conf line it cannot read back: {text!r} {read.errors}")
    return read.rules[0]


@dataclass
class HbaPlan:
    lines: list[HbaLine]
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- order


def address_specificity(line: HbaLine) -> float:
    """0 (any address) .. 1 (one host); keywords and names get their usual reach."""
    a = line.record.address
    if a is None:
        return 1.0
    if a.kind == "ip" and a.network is not None:
        return a.network.prefixlen / a.network.max_prefixlen
    if a.kind == "keyword" and a.text == "all":
        return 0.0
    if (a.kind == "keyword" and a.text == "samenet") or (a.kind == "hostname" and a.text.startswith(".")):
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
            -address_specificity(line),
            -_name_specificity(line.databases),
            -_name_specificity(line.users),
            0 if line.type in ("hostssl", "hostnossl", "hostgssenc", "hostnogssenc") else 1,
            line.order)


def covers(a: HbaLine, b: HbaLine) -> bool:
    """True when every connection ``b`` matches is matched by ``a`` (hba_semantics.covers)."""
    return hba_semantics.covers(a.record, b.record)


# --------------------------------------------------------------------------- building the plan


def _host_cidr(host: str) -> str | None:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"{ip}/{ip.max_prefixlen}"


def _method_words(i: int, rule: AccessRule, case: str) -> tuple[str, str]:
    """(warning, note) for a method verdict (hba_semantics.method_verdict) on access[i]."""
    where = f"{rule.type} {rule.database} {rule.user} {rule.address or ''}".rstrip() + f" {rule.method}"
    head = f"pg_hba.conf line '{where}' (access[{i}])"
    if case.startswith("trust-"):
        reach = {"trust-network": f"ANYONE who can reach the server from {rule.address} connects as {rule.user} "
                                  "WITHOUT A PASSWORD",
                 "trust-loopback": f"every process on this machine connects as {rule.user} over loopback "
                                   f"({rule.address}) without a password",
                 "trust-local": f"every local OS user connects as {rule.user} without a password"}[case]
        return (f"{head}: {reach}",
                f"!!! WARNING: trust = NO AUTHENTICATION. {reach}. Asked for explicitly in the spec.")
    msg = {"password-cleartext": f"{head} sends the password in clear text; use scram-sha-256",
           "password-received": f"{head}: the server receives the password itself (the channel is protected, the "
                                "secret is not); use scram-sha-256",
           "md5": f"{head}: password_encryption is not scram-sha-256 and the stored MD5 hash is password-equivalent; "
                  "use scram-sha-256"}.get(case)
    if msg is not None:
        return msg, "WARNING: " + msg
    return "", ("md5: with password_encryption = scram-sha-256 the stored secrets are SCRAM, and an md5 line "
                "then authenticates with SCRAM anyway; prefer writing scram-sha-256")  # md5-scram: a note only


def _from_access(i: int, rule: AccessRule, ssl: bool, scram: bool) -> tuple[HbaLine, list[str]]:
    notes: list[str] = [f"access[{i}] in the spec"]
    warnings: list[str] = []
    warned: list[str] = []
    line = HbaLine(rule.type, rule.database, rule.user, rule.address, rule.method, tuple(rule.options.items()),
                   f"access[{i}]", (), i)
    verdict = hba_semantics.method_verdict(line.record, scram=scram)
    if verdict is not None:
        warning, note = _method_words(i, rule, verdict.case)
        notes.append(note)
        if verdict.severity in ("error", "warning"):
            warnings.append(warning)
            warned.append(verdict.code)
    if ssl and hba_semantics.admits_plaintext(line.record):
        warnings.append(f"pg_hba.conf line '{rule.type} {rule.database} {rule.user} {rule.address}' (access[{i}]) "
                        "admits connections without TLS although ssl is on; use hostssl (the audit reports it as PGF206)")
        warned.append(hba_semantics.TLS_CODE)
    return replace(line, notes=tuple(notes), warned=tuple(warned)), warnings


def _generated(spec: HostSpec, ssl: bool) -> list[HbaLine]:
    lines: list[HbaLine] = []
    base = 100_000  # after every spec line when specificity ties
    rep = spec.replication
    # With ssl on, replicas connect with sslmode=require (spec/replication.py), so their
    # lines demand TLS too.
    replica_type = "hostssl" if ssl else "host"
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
        if pgb.server_host.lower() == "localhost":
            hosts = ["127.0.0.1/32", "::1/128"]
        else:
            cidr = _host_cidr(pgb.server_host)
            hosts = [cidr] if cidr is not None and is_loopback(cidr) else []
        for k, cidr in enumerate(hosts):
            lines.append(HbaLine("host", ",".join(pgb.databases), "all", cidr, "scram-sha-256", (), "pgbouncer",
                                 ("PgBouncer logs in to the server over loopback with each client's SCRAM secret",),
                                 base + 1000 + k))
    return lines


def plan(t: Tuning) -> HbaPlan:
    """The ordered pg_hba.conf lines for the tuning's spec and the warnings they carry. Whether
    ssl is on is the ssl rule's value; password_encryption the rule's too."""
    spec = t.spec
    ssl = ssl_on(t)
    encryption = t.get("password_encryption")
    scram = encryption is not None and encryption.value == "scram-sha-256"
    first = HbaLine("local", "all", "postgres", None, "peer", (), "pgforge",
                    ("the postgres OS account, for maintenance and the bundle's scripts; first so nothing shadows it",), -1)
    # "all" does not match replication connections: pg_basebackup over the socket (the bundle's
    # base_backup.sh, a replica bootstrap run on this host) needs its own line.
    second = HbaLine("local", "replication", "postgres", None, "peer", (), "pgforge",
                     ("the postgres OS account's physical backups (pg_basebackup) over the local socket",), -1)
    warnings: list[str] = []
    spec_lines: list[HbaLine] = []
    for i, rule in enumerate(spec.access):
        if rule.type == first.type and rule.database == first.database and rule.user == first.user:
            # never written, so nothing else is said about it
            warnings.append(f"access[{i}] (local all postgres) is replaced by pgforge's 'local all postgres peer', which comes first")
            continue
        line, warns = _from_access(i, rule, ssl, scram)
        warnings.extend(warns)
        spec_lines.append(line)
    for line in _generated(spec, ssl):
        judge = hba_semantics.decides if line.origin.startswith("replica") else hba_semantics.covers
        decided = [s for s in spec_lines if judge(s.record, line.record)]
        if not decided:
            spec_lines.append(line)
            continue
        keeper = decided[0]
        spec_lines[spec_lines.index(keeper)] = replace(
            keeper, notes=(*keeper.notes, f"also serves {line.origin} (pgforge adds no line of its own for it)"))
    ordered = [first, second, *sorted(spec_lines, key=specificity_key)]
    out: list[HbaLine] = []
    for line, by in zip(ordered, hba_semantics.shadowed_by([line.record for line in ordered])):
        if by is not None:
            shadow = ordered[by]
            desc = f"{line.type} {line.database} {line.user} {line.address or ''}".strip()
            warnings.append(f"pg_hba.conf line '{desc}' ({line.origin}) never matches: the line from {shadow.origin} "
                            "before it covers every connection it would match")
            line = replace(line, notes=(*line.notes, f"NEVER MATCHES: the line from {shadow.origin} above covers it"),
                           warned=(*line.warned, hba_semantics.SHADOW_CODE))
        out.append(line)
    return HbaPlan(out, warnings)


def warnings(t: Tuning) -> list[str]:
    """What the user must know about pg_hba.conf beyond the rule notes (proposed part API)."""
    if not _wanted(t.spec):
        return []
    return plan(t).warnings


def _wanted(spec: HostSpec) -> bool:
    return bool(spec.access) or bool(spec.replication and spec.replication.replicas) or bool(spec.pgbouncer and spec.pgbouncer.enabled)


def files(t: Tuning) -> list[OutFile]:
    if not _wanted(t.spec):
        return []
    p = plan(t)
    content = render("pg_hba.conf.j2", version=__version__, spec=t.spec, lines=p.lines, warnings=p.warnings,
                     ssl_on=ssl_on(t), ca=bool(t.get("ssl_ca_file")),
                     cert_file=CERT_FILE, key_file=KEY_FILE, ca_file=CA_FILE)
    purpose = "client authentication: copy into the data directory (or point hba_file at it)"
    if p.warnings:
        purpose += f"; {len(p.warnings)} WARNING(S) inside"
    return [OutFile(PATH, content, 0o600, purpose, "reload")]
