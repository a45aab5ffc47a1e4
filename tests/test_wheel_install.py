"""``pip install .`` gives a pgforge that works outside the checkout.

Issue 2: templates and profiles ship inside the wheel. A source checkout hides a packaging
mistake (resources.py falls back to the repository's top-level directories), so this builds the
real wheel, installs it into a fresh virtual environment and runs the command from a directory
that is not the checkout, then asks the installed package where its files came from.

The fresh environment reuses the running interpreter's dependencies through a .pth file instead of
downloading them (``--system-site-packages`` would not see them when the tests themselves run in
a venv, as in CI); a .pth line adds a directory without processing the editable-install hooks
inside it, so the checkout's ``src/`` cannot leak in.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(argv: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PGFORGE_CATALOG_DIR")}
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert proc.returncode == 0, f"{argv} failed ({proc.returncode})\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", wheels, REPO],
        cwd=tmp_path)
    (wheel,) = wheels.glob("pgforge-*.whl")

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    vpython = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", vpython, "install", "--no-deps", "--disable-pip-version-check", "-q",
         wheel], cwd=tmp_path)
    purelib = Path(run([vpython, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).stdout.strip())
    deps = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]} if Path(p).is_dir()]
    (purelib / "_pgforge_test_deps.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = json.loads(run([vpython, "-c", (
        "import json, pgforge, pgforge.resources as r; "
        "print(json.dumps([pgforge.__file__, str(r.templates_dir()), str(r.profiles_dir()), str(r.catalog_dir())]))"
    )], cwd=elsewhere).stdout)
    for path in where:
        assert Path(path).resolve().is_relative_to(purelib.resolve()), f"{path} is not from the installed wheel"
        assert not Path(path).resolve().is_relative_to(REPO), path

    pgforge = venv / "bin" / "pgforge"
    listed = run([pgforge, "profiles", "list"], cwd=elsewhere).stdout
    assert "web-small" in listed and "oltp-nvme-32core" in listed
    run([pgforge, "generate", "--profile", "web-small", "-o", "out"], cwd=elsewhere)
    conf = (elsewhere / "out" / "postgresql.conf").read_text()
    assert "\nshared_buffers = 1GB\n" in conf
    assert (elsewhere / "out" / "MANIFEST.json").is_file()
    # The installed build renders exactly what the checkout renders.
    from pgforge.render.formats import render_conf
    from pgforge.spec.load import build_spec
    from pgforge.tuning import tune

    assert conf == render_conf(tune(build_spec(profile="web-small")))
