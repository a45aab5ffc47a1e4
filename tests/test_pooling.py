"""PgBouncer pool sizing (src/pgforge/pooling.py) and the max_connections rule that uses it.

The two directions must agree: whatever recommend() produces, check() accepts at the
max_connections required_max_connections() states, and rejects one slot less.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgforge import pooling
from pgforge.errors import UserError
from pgforge.pooling import PoolLimits, check, recommend, required_max_connections
from pgforge.spec import HostSpec
from pgforge.tuning import tune

MODES = st.sampled_from(["transaction", "statement", "session"])
STORAGE = st.sampled_from(["ssd", "nvme", "hdd", "san"])


def _plan(**kw):
    args = dict(cpus=8, storage="nvme", pool_mode="transaction", databases=["app"], client_connections=2000,
                capacity=10_000)
    args.update(kw)
    return recommend(**args)


def test_transaction_pools_follow_the_cpus() -> None:
    plan = _plan()
    assert (plan.default_pool_size, plan.reserve_pool_size, plan.max_db_connections) == (16, 4, 20)
    assert plan.limited_by == "cpus"
    assert plan.max_client_conn == 2000 + pooling.ADMIN_CLIENT_SLACK


def test_spindles_count_on_hdd_only() -> None:
    assert pooling.active_target(4, "hdd") == 10
    assert pooling.active_target(4, "nvme") == 8


def test_pools_are_split_over_databases_with_a_floor() -> None:
    plan = _plan(cpus=2, databases=["a", "b", "c"])
    # 4 active connections over 3 databases would be 2 each after rounding up; floor is 2
    assert plan.default_pool_size == pooling.MIN_POOL_SIZE
    assert plan.server_connections == 3 * plan.max_db_connections


def test_few_clients_need_few_server_connections() -> None:
    plan = _plan(client_connections=5)
    assert plan.default_pool_size == 5
    assert plan.limited_by == "clients"


def test_session_mode_gives_each_client_a_connection_and_no_reserve() -> None:
    plan = _plan(pool_mode="session", client_connections=120, databases=["a", "b"])
    assert plan.default_pool_size == 60
    assert plan.reserve_pool_size == 0


def test_spec_pool_size_replaces_the_formula() -> None:
    plan = _plan(pool_size=7)
    assert plan.default_pool_size == 7 and plan.limited_by == "spec"


def test_pools_shrink_to_the_capacity() -> None:
    plan = _plan(capacity=11, databases=["a", "b"])
    assert plan.limited_by == "server connections"
    assert plan.server_connections <= 11
    assert plan.default_pool_size + pooling.reserve_for(plan.default_pool_size, "transaction") <= 5


def test_capacity_below_one_per_database_is_refused() -> None:
    with pytest.raises(pooling.PoolingError, match="3 pooled database"):
        _plan(capacity=2, databases=["a", "b", "c"])


def test_check_finds_unbounded_pools() -> None:
    findings = check([PoolLimits("app", 20)], max_connections=1000)
    assert [f.code for f in findings] == ["pool-unbounded"]
    # known users bound it
    assert check([PoolLimits("app", 20, users=2)], max_connections=1000) == []


def test_check_bound_is_the_smaller_of_cap_and_users() -> None:
    assert PoolLimits("app", 10, 2, max_db_connections=30, users=2).server_connections == 24
    assert PoolLimits("app", 10, 2, max_db_connections=15, users=2).server_connections == 15


def test_check_finds_overcommit_and_descriptors() -> None:
    pools = [PoolLimits("a", 20, 5, 25), PoolLimits("b", 20, 5, 25)]
    need = 50 + 3 + pooling.MAINTENANCE_HEADROOM
    assert check(pools, max_connections=need) == []
    codes = [f.code for f in check(pools, max_connections=need - 1)]
    assert codes == ["pools-exceed-max-connections"]
    codes = [f.code for f in check(pools, max_connections=need, max_client_conn=1000, fd_limit=1024)]
    assert codes == ["fd-limit"]  # 1000 + 50 + 10 > 1024


@settings(max_examples=200, deadline=None)
@given(cpus=st.integers(1, 256), storage=STORAGE, mode=MODES, ndb=st.integers(1, 12),
       clients=st.integers(1, 50_000), capacity=st.integers(12, 5000),
       pool_size=st.one_of(st.none(), st.integers(1, 500)))
def test_recommend_passes_check_tightly(cpus, storage, mode, ndb, clients, capacity, pool_size) -> None:
    dbs = [f"db{i}" for i in range(ndb)]
    plan = recommend(cpus=cpus, storage=storage, pool_mode=mode, databases=dbs, client_connections=clients,
                     capacity=capacity, pool_size=pool_size)
    assert plan.server_connections <= capacity
    need = required_max_connections(plan, 3)
    assert check(plan.limits(), max_connections=need, max_client_conn=plan.max_client_conn, fd_limit=plan.fd_limit) == []
    assert [f.code for f in check(plan.limits(), max_connections=need - 1)] == ["pools-exceed-max-connections"]
    assert plan.fd_limit >= plan.fd_needed and plan.fd_limit % 1024 == 0
    # the part recomputes the plan from the resulting budget: it must come out the same
    again = recommend(cpus=cpus, storage=storage, pool_mode=mode, databases=dbs, client_connections=clients,
                      capacity=plan.server_connections, pool_size=pool_size)
    assert (again.default_pool_size, again.reserve_pool_size) == (plan.default_pool_size, plan.reserve_pool_size)


def test_caveats_know_the_version() -> None:
    old = " ".join(pooling.caveats("transaction", (1, 18, 0)))
    new = " ".join(pooling.caveats("transaction", (1, 21, 0)))
    for topic in ("SET LOCAL", "LISTEN/NOTIFY", "advisory", "prepared statements"):
        assert topic in old
    assert "break before PgBouncer 1.21" in old and "break" not in new
    assert pooling.caveats("session", (1, 18, 0)) == []
    assert pooling.caveat_summary("session", (1, 18, 0)) is None


# --------------------------------------------------------------------------- the max_connections rule


def _spec(**kw) -> HostSpec:
    base = dict(memory="32GB", cpus=8, storage="nvme", workload="oltp", pg_version=17,
                pgbouncer={"enabled": True, "pool_mode": "transaction", "databases": ["app"], "client_connections": 2000})
    base.update(kw)
    return HostSpec(**base)


def test_rule_sizes_max_connections_from_the_pools() -> None:
    t = tune(_spec())
    mc = t.get("max_connections")
    assert mc.value == 20 + 3 + pooling.MAINTENANCE_HEADROOM
    assert mc.inputs["default_pool_size"] == 16 and mc.inputs["reserve_pool_size"] == 4
    assert any("LISTEN/NOTIFY" in w for w in t.warnings)
    assert t.budget.fits


def test_rule_counts_reserved_connections_on_16_and_later() -> None:
    # reserved_connections exists from 16; its default 0 adds nothing, but the rule must ask for it
    assert tune(_spec(pg_version=16)).get("max_connections").inputs["reserved_connections"] == 0
    assert tune(_spec(pg_version=13)).get("max_connections").value == 33


def test_rule_keeps_a_larger_explicit_connections() -> None:
    assert tune(_spec(connections=150)).get("max_connections").value == 150
    assert tune(_spec(connections=20)).get("max_connections").value == 33


def test_rule_shrinks_pools_to_the_memory_budget() -> None:
    # 1 GB and 64 CPUs: 128 active connections would not fit the budget at the oltp work_mem
    spec = _spec(memory="1GB", cpus=64, pgbouncer={"enabled": True, "databases": ["a", "b"], "client_connections": 5000})
    t = tune(spec)
    mc = t.get("max_connections")
    assert t.budget.fits
    assert mc.inputs["pooled"] + 13 <= mc.value
    assert any("shrunk" in w for w in t.warnings)


def test_rule_without_pgbouncer_is_unchanged() -> None:
    assert tune(_spec(pgbouncer=None)).get("max_connections").value == 200
    assert tune(_spec(pgbouncer={"enabled": False})).get("max_connections").value == 200


def test_session_mode_note() -> None:
    t = tune(_spec(pgbouncer={"enabled": True, "pool_mode": "session", "databases": ["app"], "client_connections": 300}))
    assert t.get("max_connections").value == 300 + 13
    assert any("session mode holds one server connection per client" in w for w in t.warnings)


def test_too_many_databases_is_a_user_error() -> None:
    dbs = [f"db{i}" for i in range(60)]  # 512MB holds 67 connections: 54 beside the reserved slots
    with pytest.raises(UserError, match="pooled database"):
        tune(_spec(memory="512MB", pgbouncer={"enabled": True, "databases": dbs, "pool_size": 1}))


def test_the_rule_and_the_tuning_share_one_pool_sizing() -> None:
    """rules/connections.pool_sizing is memoised per context: the max_connections rule and the
    tuning result hold the same object, sized beside the same reserved slots."""
    from pgforge.rules.connections import pool_sizing
    from pgforge.rules.context import Context

    spec = HostSpec(memory="8GB", cpus=4, pg_version=16,
                    pgbouncer={"enabled": True, "databases": ["a"], "client_connections": 300})
    ctx = Context(spec)
    sizing = pool_sizing(ctx)
    rec = ctx.rec("max_connections")
    assert pool_sizing(ctx) is sizing
    assert rec.value == sizing.required_max_connections
    assert rec.inputs["default_pool_size"] == sizing.plan.default_pool_size
    t = tune(spec)
    assert t.pools == sizing and t.pools.check(t.get("max_connections").value) == []
    assert tune(HostSpec(memory="8GB", cpus=4)).pools is None
