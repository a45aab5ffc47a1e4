"""The ``access:`` section: who may connect from where (pg_hba.conf lines)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pgforge.sections.base import Section


class AccessRule(Section):
    """One pg_hba.conf line. ``method`` defaults to scram-sha-256; ``trust`` only when asked."""

    type: Literal["local", "host", "hostssl", "hostnossl", "hostgssenc", "hostnogssenc"] = "hostssl"
    database: str = "all"
    user: str = "all"
    address: str | None = None
    method: Literal["scram-sha-256", "md5", "password", "trust", "reject", "peer", "cert", "ldap", "gss", "pam", "radius"] = "scram-sha-256"
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None or value in ("all", "samehost", "samenet") or value.startswith("."):
            return value
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a valid CIDR address: {exc}") from None
        return value

    @model_validator(mode="after")
    def _address_needed(self) -> AccessRule:
        if self.type == "local" and self.address is not None:
            raise ValueError("a local line takes no address")
        if self.type != "local" and self.address is None:
            raise ValueError(f"a {self.type} line needs an address (CIDR such as 10.0.1.0/24)")
        return self
