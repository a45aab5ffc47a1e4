"""Run every probe and combine the results into one :class:`Detection`.

The storage and data-size probes look at the data directory the postgres probe settled on (explicit,
``PGDATA``, running postmaster or ``pg_lsclusters``), falling back to ``/``, so ``pgforge detect``
without ``--data-dir`` still inspects the disk the cluster actually lives on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pgforge.detect import Note, Probe, is_live_root
from pgforge.detect.cpu import probe_cpus
from pgforge.detect.data_size import probe_data_size
from pgforge.detect.hugepages import probe_huge_pages
from pgforge.detect.memory import probe_memory
from pgforge.detect.postgres import Runner, no_commands, probe_postgres, run_command
from pgforge.detect.storage import probe_storage

# Every field detect_host tries, in the order it reports them.
FIELDS = ("memory", "cpus", "storage", "pg_version", "data_dir", "data_size", "pg_build", "huge_pages")


@dataclass(frozen=True)
class Detection:
    """What was found on the host, where it came from, and what could not be found (and why).

    ``values`` uses the spec's keys and holds only what was detected; the caller applies
    defaults for the keys in ``undetected`` and should say so.
    """

    values: dict[str, object] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    undetected: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON/YAML output."""
        return {
            "values": {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.values.items()},
            "notes": [asdict(n) for n in self.notes],
            "undetected": dict(self.undetected),
        }


def combine(probes: list[Probe]) -> Detection:
    """Merge probe results in ``FIELDS`` order: values, all notes, and the reasons for the rest."""
    order = {name: i for i, name in enumerate(FIELDS)}
    values: dict[str, object] = {}
    notes: list[Note] = []
    undetected: dict[str, str] = {}
    for probe in sorted(probes, key=lambda p: order.get(p.field, len(order))):
        notes.extend(probe.notes)
        if probe.value is not None:
            values[probe.field] = probe.value
        else:
            undetected[probe.field] = probe.reason or "not detected"
    return Detection(values=values, notes=notes, undetected=undetected)


def detect_host(
    root: Path = Path("/"),
    data_dir: Path | None = None,
    *,
    use_psutil: bool = True,
    env: Mapping[str, str] | None = None,
    run: Runner | None = None,
) -> Detection:
    """Describe the host under ``root`` for the spec model.

    ``env`` (for ``PGDATA``) defaults to ``os.environ`` and ``run`` (for ``pg_config`` and
    ``pg_lsclusters``) to :func:`run_command` only when ``root`` is the live ``/``: for any other
    root, host binaries and environment would describe the wrong machine, so both default to empty.
    """
    live = is_live_root(root)
    if live and data_dir is not None and not Path(data_dir).is_absolute():
        data_dir = Path(os.path.abspath(data_dir))  # ./pgdata is relative to the caller's cwd
    if env is None:
        env = os.environ if live else {}
    if run is None:
        run = run_command if live else no_commands
    pg = probe_postgres(root, data_dir=data_dir, env=env, run=run)
    storage_path = pg["data_dir"].value
    memory = probe_memory(root, use_psutil=use_psutil)
    probes = [
        memory,
        probe_cpus(root),
        probe_storage(root, str(storage_path) if storage_path is not None else None),
        probe_data_size(root, str(storage_path) if storage_path is not None else None,
                        memory.value if isinstance(memory.value, int) else None),
        *pg.values(),
        probe_huge_pages(root),
    ]
    return combine(probes)
