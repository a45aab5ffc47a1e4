"""The ``access:`` section: who may connect from where (pg_hba.conf lines).

Everything PostgreSQL would refuse at start-up is refused here instead, with the field named:
an address that is not a network (``10.0.1.5/24`` has host bits set), a bare IP (pg_hba.conf
wants a CIDR mask; a bare address is looked up as a host name), ``peer`` on a TCP line,
``cert`` or ``clientcert`` off ``hostssl``. ``method`` defaults to scram-sha-256; ``trust``
only when written, and the bundle then warns loudly.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pgforge.sections.base import Section

HOST_TYPES = ("host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc")

# One element of a comma-separated database or user field: a keyword, a name, +group or @file.
# Names are restricted to what pg_hba.conf takes without quoting.
_TOKEN = re.compile(r"^[+@]?[A-Za-z_][A-Za-z0-9_$.-]{0,62}$")
_OPTION_KEY = re.compile(r"^[a-z_]+$")


def _tokens(value: str, what: str) -> str:
    parts = [p.strip() for p in value.split(",")]
    for part in parts:
        if not _TOKEN.match(part):
            raise ValueError(f"{what} {part!r}: use names of letters, digits and _ $ . - (comma-separated), "
                             "or +group / @file")
    return ",".join(parts)


def normalize_address(value: str) -> str:
    """A CIDR network as pg_hba.conf wants it: ``10.0.2.10`` -> ``10.0.2.10/32``; keywords as is."""
    if value in ("all", "samehost", "samenet") or value.startswith("."):
        return value
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"not a valid CIDR address: {exc}") from None
    return network.with_prefixlen


class AccessRule(Section):
    """One pg_hba.conf line. ``method`` defaults to scram-sha-256; ``trust`` only when asked."""

    type: Literal["local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"] = "hostssl"
    database: str = "all"
    user: str = "all"
    address: str | None = None
    method: Literal["scram-sha-256", "md5", "password", "trust", "reject", "peer", "cert", "ldap", "gss", "pam", "radius"] = "scram-sha-256"
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        return _tokens(value, "database")

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return _tokens(value, "user")

    @field_validator("address")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return None if value is None else normalize_address(value)

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not _OPTION_KEY.match(key):
                raise ValueError(f"option name {key!r} is not a pg_hba.conf option")
            if any(c in val for c in '"\n\r'):
                raise ValueError(f"option {key}: a value cannot hold a double quote or a line break")
        return value

    @model_validator(mode="after")
    def _address_needed(self) -> AccessRule:
        if self.type == "local" and self.address is not None:
            raise ValueError("a local line takes no address")
        if self.type != "local" and self.address is None:
            raise ValueError(f"a {self.type} line needs an address (CIDR such as 10.0.1.0/24)")
        if self.method == "peer" and self.type != "local":
            raise ValueError("peer works only on local (Unix socket) lines; use scram-sha-256 for TCP")
        if self.method == "cert" and self.type != "hostssl":
            raise ValueError("cert authentication needs a hostssl line (the client certificate comes with TLS)")
        if "clientcert" in self.options and self.type != "hostssl":
            raise ValueError("clientcert can only be set on a hostssl line")
        return self

    @property
    def is_host(self) -> bool:
        return self.type in HOST_TYPES

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

