"""Bundle parts beyond postgresql.conf: one module per file family, each exposing
``files(tuning) -> list[OutFile]``. bundle.py asks them in this order; a part whose spec section
is absent returns no files."""

PART_MODULES = ("pgbouncer", "hba", "archive", "replication", "backup")
