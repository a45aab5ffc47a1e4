"""Position-keeping parsers for postgresql.conf, pg_hba.conf and pgbouncer.ini.

They are the foundation of ``pgforge check``: every node knows its file, line and
column, every parser accepts any string without raising, and each follows the real
program's grammar (PostgreSQL's guc-file.l and hba.c, PgBouncer's cfparser) rather
than a generic INI or shell-word reader.  Pure standard library.
"""

# Names are resolved on first use (PEP 562) so that importing one parser does not compile the
# others' regular expressions: start-up time matters for a CLI.
_HOME = {
    **dict.fromkeys(("HbaAddress", "HbaFile", "HbaInclude", "HbaName", "HbaOption", "HbaRule", "HbaSet", "load_hba",
                     "parse_hba"), "hba"),
    **dict.fromkeys(("BouncerEntry", "BouncerFile", "BouncerInclude", "BouncerSet", "SectionHeader",
                     "load_pgbouncer_ini", "parse_int", "parse_pgbouncer_ini", "parse_seconds"), "pgbouncer_ini"),
    **dict.fromkeys(("ConnParam", "ConnStr", "parse_connstr", "scan_connstr"), "connstr"),
    **dict.fromkeys(("ConfFile", "ConfSet", "Include", "Setting", "load_pgconf", "parse_pgconf", "split_list"), "pgconf"),
    "parse_bool": "values",
    "Diagnostic": "source",
    "Position": "source",
}


def __getattr__(name: str):
    import importlib

    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(name)


__all__ = [
    "BouncerEntry",
    "BouncerFile",
    "BouncerInclude",
    "BouncerSet",
    "ConfFile",
    "ConfSet",
    "ConnParam",
    "ConnStr",
    "Diagnostic",
    "HbaAddress",
    "HbaFile",
    "HbaInclude",
    "HbaName",
    "HbaOption",
    "HbaRule",
    "HbaSet",
    "Include",
    "Position",
    "SectionHeader",
    "Setting",
    "load_hba",
    "load_pgbouncer_ini",
    "load_pgconf",
    "parse_bool",
    "parse_connstr",
    "parse_hba",
    "parse_int",
    "parse_pgbouncer_ini",
    "parse_pgconf",
    "parse_seconds",
    "scan_connstr",
    "split_list",
]
