"""The ``access:`` section: who may connect from where (pg_hba.conf lines).

Everything PostgreSQL would refuse at start-up is refused here instead, with the field named:
an address that is not a network (``10.0.1.5/24`` has host bits set), a bare IP (pg_hba.conf
wants a CIDR mask; a bare address is looked up as a host name), ``peer`` on a TCP line,
``cert`` or ``clientcert`` off ``hostssl``. ``method`` defaults to scram-sha-256; ``trust``
only when written, and the bundle then warns loudly.

pg_hba.conf in each layer: the ``access:`` section is spec/access.py (its grammar
spec/grammar/hba.py); the ssl GUC values the lines drive are rules/ssl.py; the file is
bundle/pg_hba.py; what a line matches and the verdict on its method are hba_semantics.py, shared by
the generator and the audit; the audit reads the file with parsers/hba.py and judges it with
PGF201-PGF209 (audit/checks/hba_security.py) and PGF402 (audit/checks/coherence.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pgforge.spec.base import Section
from pgforge.spec.grammar import HbaOptionKey, HbaOptionValue, check_hba_address, check_hba_option, hba_tokens


def normalize_address(value: str) -> str:
    """A pg_hba.conf address: ``10.0.2.10`` -> ``10.0.2.10/32``; keywords and DNS suffixes as they are
    (the grammar is :func:`pgforge.spec.grammar.check_hba_address`)."""
    return check_hba_address(value)


class AccessRule(Section):
    """One pg_hba.conf line. ``method`` defaults to scram-sha-256; ``trust`` only when asked."""

    type: Literal["local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"] = "hostssl"
    database: str = "all"
    user: str = "all"
    address: str | None = None
    method: Literal["scram-sha-256", "md5", "password", "trust", "reject", "peer", "cert", "ldap", "gss", "pam", "radius"] = "scram-sha-256"
    options: dict[HbaOptionKey, HbaOptionValue] = Field(default_factory=dict)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        return hba_tokens(value, "database")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return hba_tokens(value, "user")

    @field_validator("address")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return None if value is None else normalize_address(value)

    @model_validator(mode="after")
    def _address_needed(self) -> AccessRule:
        if self.type == "local" and self.address is not None:
            raise ValueError("a local line takes no address")
        if self.type != "local" and self.address is None:
            raise ValueError(f"a {self.type} line needs an address (CIDR such as 10.0.1.0/24)")
        if self.method == "peer" and self.type != "local":
            raise ValueError("peer works only on local (Unix socket) lines; use scram-sha-256 for TCP")
        if self.method == "gss" and self.type == "local":
            raise ValueError("gss works only on TCP lines (PostgreSQL refuses it on local sockets); use peer")
        if self.method == "cert" and self.type != "hostssl":
            raise ValueError("cert authentication needs a hostssl line (the client certificate comes with TLS)")
        for name, value in self.options.items():
            try:
                check_hba_option(name, value, self.method)
            except ValueError as exc:
                raise ValueError(f"options.{name}: {exc}") from None
        if "clientcert" in self.options and self.type != "hostssl":
            raise ValueError("clientcert can only be set on a hostssl line")
        if self.method == "cert" and self.options.get("clientcert", "verify-full") != "verify-full":
            raise ValueError("options.clientcert: cert authentication always verifies the full certificate; "
                             "PostgreSQL accepts only clientcert=verify-full with it")
        return self

    @property
    def databases(self) -> list[str]:
        return self.database.split(",")

    @property
    def users(self) -> list[str]:
        return self.user.split(",")

    @property
    def needs_ssl(self) -> bool:
        """True when the server must have ssl = on for this line to load."""
        return self.type == "hostssl" or self.method == "cert"

    @property
    def checks_client_certificates(self) -> bool:
        """True when the server needs a CA file (ssl_ca_file) to verify client certificates."""
        return self.method == "cert" or self.options.get("clientcert") in ("verify-ca", "verify-full")

