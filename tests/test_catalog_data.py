"""The shipped per-major GUC catalogs are complete, well-formed and came from the real builds.

pgforge validates names, units, ranges and enum values against these files, so a wrong or stale
catalog silently turns into wrong advice. The facts checked here are documented release-note
changes; the realpg checks tie each file to the binary it claims to describe.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pgharness import MAJORS, pg_bindir, run_as_postgres

CATALOG_DIR = Path(str(files("pgforge") / "data" / "catalog"))
TOP_KEYS = {"major", "server_version", "build", "generated_by", "build_dependent_enumvals", "settings"}
SETTING_KEYS = {"vartype", "unit", "context", "category", "boot_val", "min", "max", "enumvals", "short_desc"}
VARTYPES = {"bool", "integer", "real", "string", "enum"}
CONTEXTS = {"internal", "postmaster", "sighup", "superuser-backend", "backend", "superuser", "user"}


@cache
def catalog(major: int) -> dict[str, Any]:
    return json.loads((CATALOG_DIR / f"{major}.json").read_text(encoding="utf-8"))


def settings(major: int) -> dict[str, dict[str, Any]]:
    return catalog(major)["settings"]


@pytest.mark.parametrize("major", MAJORS)
def test_catalog_shape(major: int) -> None:
    doc = catalog(major)
    assert set(doc) == TOP_KEYS
    assert doc["major"] == major
    assert doc["server_version"].startswith(f"{major}.")
    assert doc["generated_by"] == "scripts/build_catalog.py"
    assert len(doc["settings"]) > 300
    for name, s in doc["settings"].items():
        assert set(s) == SETTING_KEYS, name
        assert s["vartype"] in VARTYPES, name
        assert s["context"] in CONTEXTS, name
        if s["vartype"] == "integer":
            assert type(s["min"]) is int and type(s["max"]) is int and s["min"] <= s["max"], name
        elif s["vartype"] == "real":
            assert type(s["min"]) is float and type(s["max"]) is float and s["min"] <= s["max"], name
        else:
            assert s["min"] is None and s["max"] is None, name
        if s["vartype"] == "enum":
            assert s["enumvals"] and all(isinstance(v, str) for v in s["enumvals"]), name
        else:
            assert s["enumvals"] is None, name
        assert s["unit"] is None or isinstance(s["unit"], str), name


@pytest.mark.parametrize("major", MAJORS)
def test_catalog_file_is_canonically_formatted(major: int) -> None:
    """Sorted keys and indent 1, so regenerating a catalog gives a minimal diff."""
    text = (CATALOG_DIR / f"{major}.json").read_text(encoding="utf-8")
    assert text == json.dumps(catalog(major), sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def test_known_cross_version_facts() -> None:
    for major in MAJORS:
        s = settings(major)
        assert ("io_method" in s) == (major >= 18), major
        assert "wal_keep_size" in s and s["wal_keep_size"]["unit"] == "MB"
        assert "wal_keep_segments" not in s  # removed in 13
        assert s["shared_buffers"]["unit"] == "8kB"
        assert s["shared_buffers"]["context"] == "postmaster"
        assert s["work_mem"]["unit"] == "kB"
        expected_cct = "0.5" if major == 13 else "0.9"
        assert s["checkpoint_completion_target"]["boot_val"] == expected_cct, major
        assert s["max_connections"]["boot_val"] == "100"
        assert ("default_toast_compression" in s) == (major >= 14)
        # wal_compression became an enum (pglz/lz4/zstd) in 15
        assert s["wal_compression"]["vartype"] == ("enum" if major >= 15 else "bool"), major
    assert settings(18)["io_method"]["boot_val"] == "worker"
    assert settings(18)["autovacuum_max_workers"]["context"] == "sighup"
    assert settings(17)["autovacuum_max_workers"]["context"] == "postmaster"
    assert settings(14)["password_encryption"]["boot_val"] == "scram-sha-256"
    assert settings(13)["password_encryption"]["boot_val"] == "md5"


def test_build_dependent_enumvals_are_recorded() -> None:
    for major in MAJORS:
        dep = catalog(major)["build_dependent_enumvals"]
        s = settings(major)
        for name, optional in dep.items():
            assert s[name]["vartype"] == "enum", (major, name)
            assert optional and all(isinstance(v, str) for v in optional)
        if major >= 14:
            assert "lz4" in dep["default_toast_compression"]
        if major >= 15:
            assert {"lz4", "zstd"} <= set(dep["wal_compression"])
        if major >= 18:
            assert "io_uring" in dep["io_method"]
            # the theseus build has no liburing: the optional value really is build-dependent
            assert "io_uring" not in s["io_method"]["enumvals"]


def test_debian_15_catalog_differs_only_by_build() -> None:
    path = CATALOG_DIR / "15-debian.json"
    if not path.exists():
        pytest.skip("15-debian.json not built (Debian postgresql-15 was not installed)")
    deb = json.loads(path.read_text(encoding="utf-8"))
    assert deb["major"] == 15 and "Debian" in deb["build"]
    names, deb_names = set(settings(15)), set(deb["settings"])
    assert len(names ^ deb_names) <= 5  # vendor patches / minor-release additions only
    # Debian builds with zstd; the theseus 15.19 build does not
    assert "zstd" in deb["settings"]["wal_compression"]["enumvals"]


# ----------------------------------------------------------------- tied to the real binaries


def _describe_config_names(major: int) -> set[str]:
    proc = run_as_postgres([pg_bindir(major) / "postgres", "--describe-config"])
    return {line.split("\t", 1)[0] for line in proc.stdout.splitlines() if line.strip()}


@pytest.mark.realpg
@pytest.mark.parametrize("major", MAJORS)
def test_catalog_matches_installed_binary(major: int) -> None:
    """--describe-config lists every GUC except the hidden ones, so it must be a subset of the
    catalog, and the catalog may only add the few dozen NO_SHOW_ALL/internal ones."""
    described = _describe_config_names(major)
    names = set(settings(major))
    assert described <= names, sorted(described - names)
    hidden = names - described
    assert 20 <= len(hidden) <= 70, sorted(hidden)
    version = run_as_postgres([pg_bindir(major) / "postgres", "--version"]).stdout
    assert f" {catalog(major)['server_version']}" in version


def _load_build_catalog() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "scripts" / "build_catalog.py"
    spec = importlib.util.spec_from_file_location("build_catalog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_catalog", module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.realpg
def test_regenerating_a_catalog_reproduces_the_shipped_file() -> None:
    """Rebuild 18 from a live server: same settings, so the shipped file is current and real."""
    build_catalog = _load_build_catalog()
    bindir = pg_bindir(18)
    raw = build_catalog.read_pg_settings(bindir, bindir / "psql")
    fresh = build_catalog.build_catalog(18, raw, "irrelevant")
    shipped = catalog(18)
    assert fresh["server_version"] == shipped["server_version"]
    assert fresh["build_dependent_enumvals"] == shipped["build_dependent_enumvals"]
    assert fresh["settings"] == shipped["settings"]
