"""The memory budget: what the server may allocate at worst, against 90% of RAM.

``shared_buffers + max_connections x work_mem + autovacuum workers x (autovacuum_work_mem or
maintenance_work_mem) + maintenance_work_mem <= 90% of RAM``. No peer tuner guarantees this; pgforge
does, by sizing max_connections against what is left (rules/connections.py) and checking the
result here. The same function serves ``explain --budget`` and the audit's overcommit check.
"""

from __future__ import annotations

from dataclasses import dataclass

BUDGET_FRACTION = 0.9
#: The fraction as every message, comment and chart prints it ("90%"): text follows the constant.
BUDGET_PERCENT = f"{BUDGET_FRACTION:.0%}"


@dataclass(frozen=True)
class Budget:
    ram: int
    shared_buffers: int
    max_connections: int
    work_mem: int
    autovacuum_workers: int
    autovacuum_mem_each: int
    maintenance_work_mem: int

    @property
    def connections_total(self) -> int:
        return self.max_connections * self.work_mem

    @property
    def autovacuum_total(self) -> int:
        return self.autovacuum_workers * self.autovacuum_mem_each

    @property
    def total(self) -> int:
        return self.shared_buffers + self.connections_total + self.autovacuum_total + self.maintenance_work_mem

    @property
    def limit(self) -> int:
        return int(self.ram * BUDGET_FRACTION)

    @property
    def fits(self) -> bool:
        return self.total <= self.limit

    @property
    def os_cache(self) -> int:
        """What the worst case leaves to the kernel's page cache and everything else."""
        return max(0, self.ram - self.total)


def fixed_memory(shared_buffers: int, autovacuum_workers: int, autovacuum_mem_each: int, maintenance_work_mem: int) -> int:
    """The part of the budget that does not grow with connections."""
    return shared_buffers + autovacuum_workers * autovacuum_mem_each + maintenance_work_mem


def budget_from_values(ram: int, values: dict) -> Budget:
    """Budget from resolved values in rule form (bytes); ``autovacuum_work_mem`` -1 means "use maintenance_work_mem"."""
    av = values["autovacuum_work_mem"]
    mwm = values["maintenance_work_mem"]
    return Budget(
        ram=ram,
        shared_buffers=values["shared_buffers"],
        max_connections=values["max_connections"],
        work_mem=values["work_mem"],
        autovacuum_workers=values["autovacuum_max_workers"],
        autovacuum_mem_each=mwm if av is None or av < 0 else av,
        maintenance_work_mem=mwm,
    )


def budget_for(ctx) -> Budget:
    """The budget of the values the rules recommend for ``ctx``'s host."""
    names = ("shared_buffers", "max_connections", "work_mem", "autovacuum_max_workers", "autovacuum_work_mem", "maintenance_work_mem")
    return budget_from_values(ctx.ram, {n: ctx.value(n) for n in names})
