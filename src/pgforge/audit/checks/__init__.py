"""The audit checks, one module per category. Importing this package registers them.

The import order is the registration order (durability first, then the security checks:
hba_security PGF201-209, pgbouncer_security PGF210, file_security PGF211-212, ...); `pgforge
rules` and the reports sort by code anyway.
"""

from pgforge.audit.checks import durability  # noqa: F401  (coherence imports it first)
from pgforge.audit.checks import hba_security, pgbouncer_security, file_security  # noqa: F401
from pgforge.audit.checks import coherence, drift, performance, validity  # noqa: F401
