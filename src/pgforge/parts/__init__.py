"""Bundle parts beyond postgresql.conf: one module per file family, each exposing
``files(tuning) -> list[OutFile]``. bundle.py asks them in this order; a part whose spec section
is absent returns no files."""

PART_MODULES = ("pgbouncer", "hba", "archive", "replication", "backup")

# The spec section each optional part serves: a part is not even imported when its section is
# absent (start-up time); hba always runs, since every server needs a pg_hba.conf.
PART_SECTIONS = {"pgbouncer": "pgbouncer", "archive": "archive", "replication": "replication", "backup": "backup"}


def active_parts(spec) -> list[str]:
    return [p for p in PART_MODULES if p not in PART_SECTIONS or getattr(spec, PART_SECTIONS[p], None) is not None]
