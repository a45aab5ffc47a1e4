"""Position-keeping parsers for postgresql.conf, pg_hba.conf and pgbouncer.ini.

They are the foundation of ``pgforge check``: every node knows its file, line and
column, every parser accepts any string without raising, and each follows the real
program's grammar (PostgreSQL's guc-file.l and hba.c, PgBouncer's cfparser) rather
than a generic INI or shell-word reader.  Pure standard library.
"""

from .hba import HbaAddress, HbaFile, HbaInclude, HbaName, HbaOption, HbaRule, HbaSet, load_hba, parse_hba
from .pgbouncer_ini import (
    BouncerEntry,
    BouncerFile,
    BouncerInclude,
    BouncerSet,
    ConnParam,
    ConnStr,
    SectionHeader,
    load_pgbouncer_ini,
    parse_connstr,
    parse_int,
    parse_pgbouncer_ini,
    parse_seconds,
    scan_connstr,
)
from .pgconf import ConfFile, ConfSet, Include, Setting, load_pgconf, parse_bool, parse_pgconf, split_list
from .source import Diagnostic, Position

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
