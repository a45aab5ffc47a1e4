"""The audit checks, one module per category. Importing this package registers them."""

from pgforge.audit.checks import coherence, drift, durability, performance, security, validity  # noqa: F401
