"""A bundle per host of an Ansible inventory: ``pgforge generate --inventory hosts.yaml -o out/``.

Two halves: :mod:`pgforge.fleet.inventory` reads the inventory (groups, vars, host ranges and
their bounds) into each host's pgforge variables; :mod:`pgforge.fleet.generate` tunes each host,
writes its bundle through :mod:`pgforge.writer`, and reports (results, progress, summary, exit
status). The names below are re-exported so ``from pgforge.fleet import ...`` reads either half.
"""

from pgforge.fleet.generate import (
    FleetResult,
    HostResult,
    build_host,
    default_jobs,
    generate_inventory,
    run_cli,
    sync_tree,
    write_host,
)
from pgforge.fleet.inventory import MAX_RANGE_HOSTS, PREFIX, expand_range, load_inventory, pgforge_vars

__all__ = [
    "MAX_RANGE_HOSTS",
    "PREFIX",
    "FleetResult",
    "HostResult",
    "build_host",
    "default_jobs",
    "expand_range",
    "generate_inventory",
    "load_inventory",
    "pgforge_vars",
    "run_cli",
    "sync_tree",
    "write_host",
]
