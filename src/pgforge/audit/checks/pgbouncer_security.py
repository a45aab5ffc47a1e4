"""PgBouncer security checks (PGF210): how PgBouncer authenticates its clients.

Anchors: PgBouncer's config.md (auth_type). Loopback addresses are addresses.py's. Counterparts:
parsers/pgbouncer_ini.py reads pgbouncer.ini, bundle/pgbouncer.py writes it; the pool checks
against the server are in coherence.py, PgBouncer's TLS files in file_security.py (PGF212).
"""

from __future__ import annotations

from typing import Iterable

from pgforge.addresses import all_loopback
from pgforge.audit.model import Hit, Where, check
from pgforge.audit.target import Target


def bouncer_main(t: Target) -> dict:
    """The [pgbouncer] section's winning entries (key -> BouncerEntry)."""
    return t.bouncer_sections.get("pgbouncer", {})


@check("PGF210", "pgbouncer-weak-auth-type", "error", "security", sets=("cis", "ci"))
def pgbouncer_weak_auth(t: Target) -> Iterable[Hit]:
    """PgBouncer ``auth_type`` of ``any``, ``trust`` or ``plain``.

    ## What it does
    Flags ``auth_type = any`` (error), ``trust`` (error when PgBouncer listens on a network
    address with ``listen_addr``, a warning when only its Unix socket or a loopback address is
    open) and ``plain`` (warning).

    ## Why is this bad?
    ``any`` ignores the user name and admits everyone, and makes every client an admin of the
    console (``SHUTDOWN``, ``RECONFIGURE``). ``trust`` checks only that the user is listed in
    auth_file. ``plain`` sends the password in clear text and is deprecated.

    ## Example
    ```
    [pgbouncer]
    listen_addr = *
    auth_type = trust
    ```

    ## Fix
    ```
    auth_type = scram-sha-256
    ```
    """
    main = bouncer_main(t)
    e = main.get("auth_type")
    if e is None:
        return
    value = e.value.strip().lower()
    where = Where(e.path, e.line, e.value_column)
    listen = main.get("listen_addr")
    tcp = listen is not None and listen.value.strip() != ""
    if value == "any":
        yield Hit(where, "auth_type = any: PgBouncer ignores the user name, admits every client and makes each an "
                  "admin of its console", "use auth_type = scram-sha-256")
    elif value == "trust":
        if tcp and not all_loopback(listen.value):
            yield Hit(where, f"auth_type = trust with listen_addr = {listen.value}: anyone who reaches port "
                      "PgBouncer listens on logs in as any user in auth_file without a password",
                      "use auth_type = scram-sha-256")
        else:
            how = f"the loopback address {listen.value}" if tcp else "the Unix socket"
            yield Hit(where, f"auth_type = trust: every local account reaching {how} logs in as any user in "
                      "auth_file without a password", "use auth_type = scram-sha-256", severity="warning")
    elif value == "plain":
        yield Hit(where, "auth_type = plain: passwords cross the network in clear text (deprecated in PgBouncer)",
                  "use auth_type = scram-sha-256", severity="warning")
