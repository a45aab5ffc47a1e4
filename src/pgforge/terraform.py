"""The Terraform ``external`` data source protocol, for ``pgforge terraform``.

Terraform runs the program with one JSON object on stdin whose values are all strings (the
``query`` argument), and expects exactly one JSON object of string values on stdout; on failure
it shows stderr and fails the plan when the exit status is not zero. So nothing but the result may
ever reach stdout, and every value, even a number, is a string.

Input keys are the spec's flat fields (``memory``, ``cpus``, ``storage``, ``workload``,
``pg_version``, ``connections``, ``os``, ``name``, ``port``, ``timezone``, ``data_size``; ``extensions`` and
``listen_addresses`` as comma lists), plus ``profile`` (a bundled profile to start from) and
``spec_json`` (a whole spec as JSON, from ``jsonencode()``, for the nested sections). An empty
string means "not set", because a Terraform map cannot hold null.

Output: every tuned setting under its own name (``shared_buffers = "4GB"``), the rendered files
(``postgresql_conf``, ``alter_system_sql``, ``parameters_yaml``), and a few facts
(``restart_settings``, ``nr_hugepages``...). None of those keys is a PostgreSQL setting name.
"""

from __future__ import annotations

import json
from typing import Any

from pgforge import __version__
from pgforge.errors import UserError

LIST_KEYS = ("extensions", "listen_addresses")
SPECIAL_KEYS = ("profile", "spec_json")
#: Spec fields that are structures: only through ``spec_json``.
NESTED_FIELDS = ("pg_build", "pgbouncer", "access", "replication", "archive", "backup")
RESULT_KEYS = ("postgresql_conf", "alter_system_sql", "parameters_yaml", "settings_json", "restart_settings",
               "reload_settings", "warnings", "pg_version", "pgforge_version", "nr_hugepages", "sysctl",
               "shared_memory_estimate")


def parse_query(text: str) -> dict[str, str]:
    """The query object, checked to be what Terraform sends: one flat object of strings."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UserError(f"stdin is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", "query") from None
    if not isinstance(data, dict):
        raise UserError("expected one JSON object of strings (the external data source's query)", "query")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise UserError("every value must be a string, as Terraform sends them (use jsonencode() for structures)",
                        f"query.{bad[0]}")
    return data


def spec_from_query(query: dict[str, str]):
    """A HostSpec from the query: ``spec_json`` < the flat keys, over an optional profile.

    Errors name the query key that holds the bad value: ``query.cpus`` for a flat key,
    ``query.spec_json: pgbouncer.server_host`` for a field inside spec_json (there are no flags
    here, so never ``--cpus``), so the Terraform author knows what to change in the module.
    """
    from pgforge.spec.load import build_spec, parse_text, profile_path, read_source

    from pgforge.spec import HostSpec

    flat = sorted(set(HostSpec.model_fields) - set(NESTED_FIELDS))
    unknown = [k for k in query if k not in flat and k not in SPECIAL_KEYS]
    if unknown:
        hint = " (nested sections go in spec_json)" if unknown[0] in NESTED_FIELDS else ""
        raise UserError(f"unknown key{hint}; known keys are {', '.join(flat + list(SPECIAL_KEYS))}",
                        f"query.{unknown[0]}")
    values = {k: v for k, v in query.items() if v.strip() != ""}
    profile = values.pop("profile", None)
    base: dict[str, Any] = {}
    if profile is not None:
        try:
            base = read_source(str(profile_path(profile))).data
        except UserError as exc:
            raise UserError(exc.message, "query.profile") from None
    from_json: dict[str, Any] = {}
    if "spec_json" in values:
        from_json = parse_text(values.pop("spec_json"), "query.spec_json").data
    flags: dict[str, Any] = {}
    for key, value in values.items():
        if key in LIST_KEYS:
            flags[key] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            flags[key] = value
    merged = deep_merge_all(base, from_json, flags)
    try:
        # One merged mapping, no files and no flags: build_spec then names the failing field by its path.
        return build_spec(extra=merged)
    except UserError as exc:
        field = exc.where or ""
        top = field.split(".", 1)[0]
        if top in flags:
            where = f"query.{top}"  # a flat key: a list's index would name nothing the author wrote
        elif top not in from_json:
            where = f"query.{field}" if field else "query"
        else:
            where = f"query.spec_json: {field}"
        raise UserError(exc.message, where) from None


def deep_merge_all(*layers: dict[str, Any]) -> dict[str, Any]:
    """The layers merged left to right (later wins; sections merge key by key, lists are replaced)."""
    from pgforge.spec.load import deep_merge

    out: dict[str, Any] = {}
    for layer in layers:
        out = deep_merge(out, layer)
    return out


def result_for(t) -> dict[str, str]:
    """The flat string map Terraform receives."""
    from pgforge import hugepages
    from pgforge.render.formats import render_conf, render_sql, render_yaml

    huge = hugepages.for_tuning(t)
    out = {s.name: s.display for s in t.settings}
    out.update({
        "postgresql_conf": render_conf(t),
        "alter_system_sql": render_sql(t),
        "parameters_yaml": render_yaml(t),
        "settings_json": json.dumps({s.name: s.display for s in t.settings}, separators=(",", ":")),
        "restart_settings": ",".join(s.name for s in t.settings if s.apply_action == "restart"),
        "reload_settings": ",".join(s.name for s in t.settings if s.apply_action != "restart"),
        "warnings": "\n".join(t.warnings),
        "pg_version": str(t.spec.pg_version),
        "pgforge_version": __version__,
        "nr_hugepages": str(huge.pages),
        "sysctl": huge.sysctl_line,
        "shared_memory_estimate": str(huge.shared_memory),
    })
    return out


def run(stdin_text: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) for one protocol exchange; never raises for bad input."""
    from pgforge.tuning import tune

    try:
        query = parse_query(stdin_text)
        result = result_for(tune(spec_from_query(query)))
    except UserError as exc:
        # Bad input: exit 2 as every pgforge command does (Terraform fails the plan on any non-zero
        # status and shows stderr); the message names the query key.
        return exc.exit_code, "", f"pgforge terraform: {exc}\n"
    return 0, json.dumps(result, sort_keys=True) + "\n", ""
