"""maintenance_work_mem and max_parallel_maintenance_workers as generated are coherent on every host:
the planner (planner.c plan_create_index_workers, mechanics/index_build.py) can start every worker set."""

from __future__ import annotations

import pytest

from pgforge.budget import budget_for
from pgforge.mechanics.index_build import create_index_workers
from pgforge.rules.context import Context
from pgforge.spec import HostSpec
from pgforge.units import KB

RAMS = ["512MB", "1GB", "2GB", "4GB", "16GB", "64GB", "512GB", "4TB"]
CPUS = [1, 2, 4, 8, 16, 64, 256]


@pytest.mark.parametrize("workload", ["web", "oltp", "mixed", "dw", "desktop"])
def test_no_starved_maintenance_workers(workload: str) -> None:
    for ram in RAMS:
        for cpus in CPUS:
            ctx = Context(HostSpec(memory=ram, cpus=cpus, workload=workload, pg_version=17))
            w = ctx.value("max_parallel_maintenance_workers")
            mwm = ctx.value("maintenance_work_mem")
            assert create_index_workers(mwm // KB, w) == w, (ram, cpus, workload, mwm, w)
            assert budget_for(ctx).fits, (ram, cpus, workload)
            if cpus >= 8 and ram in ("64GB", "512GB", "4TB"):
                assert w == 4 and mwm >= 160 * 1024 * KB, (ram, cpus, workload)
