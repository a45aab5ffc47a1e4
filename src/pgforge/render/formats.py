"""Output formats of a tuning: postgresql.conf, ALTER SYSTEM SQL, JSON, Patroni/CloudNativePG YAML."""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

from pgforge import __version__
from pgforge.budget import BUDGET_PERCENT
from pgforge.render.escape import comment_text, yaml_scalar
from pgforge.tuning import Tuning
from pgforge.units import format_bytes_human as h

FORMATS = ("conf", "sql", "json", "yaml")


def _common(t: Tuning) -> dict[str, Any]:
    return {
        "version": __version__,
        "spec": t.spec,
        "settings": t.settings,
        "warnings": t.warnings,
        "host": {
            "memory": h(t.spec.memory),
            "budget_total": h(t.budget.total),
            "budget_limit": h(t.budget.limit),
            "budget_percent": BUDGET_PERCENT,  # the limit as a share of RAM, in words (budget.py)
        },
    }


def render_conf(t: Tuning) -> str:
    from pgforge.render.templates import render

    groups = [(cat, list(items)) for cat, items in groupby(t.settings, key=lambda s: s.category)]
    return render("postgresql.conf.j2", groups=groups, **_common(t))


def render_sql(t: Tuning) -> str:
    from pgforge.render.templates import render

    # Before PostgreSQL 17, ALTER SYSTEM rejects a custom setting whose library is not loaded in
    # the session (pg_stat_statements.max on a fresh server): those wait for the restart.
    deferred = {s.name for s in t.settings if "." in s.name} if t.spec.pg_version < 17 else set()
    return render("alter_system.sql.j2", deferred=deferred, **_common(t))


def as_json_obj(t: Tuning) -> dict[str, Any]:
    """Every setting with value, unit, context and rationale, plus the budget and warnings."""
    b = t.budget
    return {
        "pgforge_version": __version__,
        "pg_version": t.spec.pg_version,
        "spec": t.spec.model_dump(mode="json", exclude_none=True),
        "settings": [
            {
                "name": s.name,
                "value": s.display,
                "conf_value": s.text,
                "unit": s.unit,
                "category": s.category,
                "context": s.context,
                "apply": s.apply_action,
                "rationale": s.rationale,
                "source": s.source,
            }
            for s in t.settings
        ],
        "budget": {
            "ram": b.ram, "limit": b.limit, "total": b.total, "shared_buffers": b.shared_buffers,
            "connections": b.connections_total, "autovacuum": b.autovacuum_total,
            "maintenance": b.maintenance_work_mem, "os_cache": b.os_cache, "fits": b.fits,
        },
        "warnings": t.warnings,
    }


def render_json(t: Tuning) -> str:
    return json.dumps(as_json_obj(t), indent=2) + "\n"


def render_yaml(t: Tuning) -> str:
    """``postgresql.parameters`` as Patroni (bootstrap.dcs) and CloudNativePG (spec) take it.

    Values are strings, as CloudNativePG requires. Hand-written rather than through a YAML library
    to keep the comments and to quote every value the same way.
    """
    lines = [  # every part of this comment is a number or an enum value
        f"# pgforge {__version__}: PostgreSQL {t.spec.pg_version} parameters for {h(t.spec.memory)} RAM, "
        f"{t.spec.cpus} CPUs, {t.spec.storage.value}, {t.spec.workload.value}",
        "# Patroni: place under bootstrap.dcs (or PATCH /config); CloudNativePG: under spec.",
        "postgresql:",
        "  parameters:",
    ]
    for s in t.settings:
        lines.append(f"    {s.name}: {yaml_scalar(s.display)}")
    return "\n".join(lines) + "\n"


def render_detected_yaml(values: dict[str, Any], notes: list[tuple[str, str]], undetected: dict[str, str]) -> str:
    """``pgforge detect`` as a spec file: what was found as keys, what was not as comments.

    Values and notes come from the host (a data directory path, a mount, a version string), so
    comments go through comment_text and every string value is a quoted YAML scalar."""
    from pgforge.spec import HostSpec
    from pgforge.units import format_bytes_pg

    lines = ["# Detected by pgforge on this host; edit and pass back with --spec."]
    lines += [f"# {comment_text(field)}: {comment_text(message)}" for field, message in notes]
    required = {name for name, field in HostSpec.model_fields.items() if field.is_required()}
    lines += [f"# {comment_text(f)}: not detected ({comment_text(why)}); "
              + ("required: add it before passing this back" if f in required else "pgforge's default applies")
              for f, why in undetected.items()]
    for key in ("memory", "cpus", "storage", "pg_version", "data_size"):
        if key in values:
            value = values[key]
            if key == "memory":
                lines.append(f"{key}: {format_bytes_pg(int(value) // 1024 * 1024)}")
            elif isinstance(value, int) and not isinstance(value, bool):
                lines.append(f"{key}: {value}")
            elif isinstance(value, str) and value in ("ssd", "nvme", "hdd", "san"):
                lines.append(f"{key}: {value}")  # the Storage words: plain YAML strings
            else:
                lines.append(f"{key}: {yaml_scalar(value)}")
    build = values.get("pg_build")
    if isinstance(build, dict) and build:
        lines.append("pg_build: {" + ", ".join(f"{yaml_scalar(k) if not str(k).isidentifier() else k}: "
                                               f"{'true' if v is True else 'false' if v is False else 'null'}"
                                               for k, v in build.items()) + "}")
    return "\n".join(lines) + "\n"


def render_format(t: Tuning, fmt: str) -> str:
    return {"conf": render_conf, "sql": render_sql, "json": render_json, "yaml": render_yaml}[fmt](t)
