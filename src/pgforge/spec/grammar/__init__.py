"""The input grammars of a spec: what each kind of string field may hold, checked where it enters.

Every value of a spec ends up in some output (postgresql.conf, pg_hba.conf, pgbouncer.ini, shell
scripts, cron lines, SQL), so each string field has a grammar here and is refused with a message
naming what is wrong when it does not fit (only spaces around list commas and between cron fields
are tidied; nothing else is repaired). Every check matches the whole string (``re.fullmatch`` or
an explicit parse): Python's ``$`` also matches before a final ``"\\n"``, which is how ``"app\\n"``
once passed a pattern anchored with ``^...$``.

This module is the first layer: the values that pass are plain. The second layer is the escaping
for each output's grammar where values leave (src/pgforge/render/ and src/pgforge/bundle/). The
spec models that use these types are the host spec (spec/host.py) and its sections (spec/*.py).

Each ``check_*`` function returns the value (sometimes normalised, as said in its docstring) or
raises ValueError with a message a DBA can act on; pydantic adds the field path and
pgforge.spec.load the file:line. The ``Annotated`` types below apply them to pydantic fields.

The grammars live in one module per domain: :mod:`~pgforge.spec.grammar.text` (free text, time
zone, and the ``show`` helper), :mod:`~pgforge.spec.grammar.network` (host names, addresses, CIDR,
the pg_hba.conf address), :mod:`~pgforge.spec.grammar.hba` (pg_hba.conf tokens and options),
:mod:`~pgforge.spec.grammar.names` (SQL and PgBouncer names), :mod:`~pgforge.spec.grammar.paths`,
:mod:`~pgforge.spec.grammar.cron`, :mod:`~pgforge.spec.grammar.archive` (S3 and pgBackRest) and
:mod:`~pgforge.spec.grammar.sizes` (the data size).
This module re-exports every name from them and defines the ``Annotated`` pydantic types the spec
models use.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

from pgforge.spec.grammar.archive import (
    check_aws_cli,
    check_bucket,
    check_endpoint_url,
    check_s3_prefix,
    check_s3_region,
    check_stanza,
)
from pgforge.spec.grammar.cron import CRON_WORDS, check_cron_schedule
from pgforge.spec.grammar.hba import (
    HBA_OPTIONS,
    HBA_SECRET_OPTIONS,
    check_hba_option,
    check_hba_option_key,
    check_hba_option_value,
    hba_tokens,
)
from pgforge.spec.grammar.names import (
    check_pgbouncer_version,
    check_plain_db_name,
    check_qualified_table,
    check_role_name,
    check_sql_identifier,
)
from pgforge.spec.grammar.network import (
    check_cidr,
    check_dns_suffix,
    check_hba_address,
    check_host_name,
    check_host_or_ip,
    check_ip_address,
    check_listen_address,
    check_pgbouncer_listen,
    is_host_name,
    is_ip_address,
)
from pgforge.spec.grammar.paths import check_safe_path
from pgforge.spec.grammar.sizes import DATA_SIZE_CLASSES, check_data_size, data_size_bytes
from pgforge.spec.grammar.text import check_prose, check_single_line, check_timezone, show


__all__ = [
    "AwsCli", "Bucket", "CronSchedule", "EndpointUrl", "HbaOptionKey", "HbaOptionValue",
    "DataSize", "HostOrIp", "ListenAddress", "PgBouncerDbName", "PgBouncerListen",
    "PgBouncerVersion", "PlainDbName", "QualifiedTable", "RoleName", "S3Prefix", "S3Region", "SafePath",
    "Prose", "ShortLine", "SqlIdentifier", "Stanza", "TimeZone",
    # the grammars themselves, from the modules above
    "CRON_WORDS", "DATA_SIZE_CLASSES", "HBA_OPTIONS", "HBA_SECRET_OPTIONS", "check_aws_cli", "check_bucket", "check_cidr",
    "check_cron_schedule", "check_data_size", "check_dns_suffix", "check_endpoint_url", "check_hba_address", "check_hba_option",
    "check_hba_option_key", "check_hba_option_value", "check_host_name", "check_host_or_ip", "check_ip_address",
    "check_listen_address", "check_pgbouncer_listen", "check_pgbouncer_version", "check_plain_db_name",
    "check_prose", "check_qualified_table", "check_role_name", "check_s3_prefix", "check_s3_region",
    "check_safe_path", "check_single_line", "check_sql_identifier", "check_stanza", "check_timezone",
    "data_size_bytes", "hba_tokens", "is_host_name", "is_ip_address", "show",
]


# --------------------------------------------------------------------------- the pydantic types
ShortLine = Annotated[str, StringConstraints(max_length=200), AfterValidator(check_single_line)]
"""A name: one line of at most 200 characters."""
Prose = Annotated[str, StringConstraints(max_length=2000), AfterValidator(check_prose)]
"""A description: plain text of at most 2000 characters, line breaks and tabs allowed."""
HostOrIp = Annotated[str, AfterValidator(check_host_or_ip)]
ListenAddress = Annotated[str, AfterValidator(check_listen_address)]
PgBouncerListen = Annotated[str, AfterValidator(check_pgbouncer_listen)]
HbaOptionKey = Annotated[str, AfterValidator(check_hba_option_key)]
HbaOptionValue = Annotated[str, AfterValidator(check_hba_option_value)]
SqlIdentifier = Annotated[str, AfterValidator(check_sql_identifier)]
QualifiedTable = Annotated[str, AfterValidator(check_qualified_table)]
PlainDbName = Annotated[str, AfterValidator(check_plain_db_name)]
PgBouncerDbName = PlainDbName
RoleName = Annotated[str, AfterValidator(check_role_name)]
PgBouncerVersion = Annotated[str, AfterValidator(check_pgbouncer_version)]
SafePath = Annotated[str, AfterValidator(check_safe_path)]
CronSchedule = Annotated[str, AfterValidator(check_cron_schedule)]
Bucket = Annotated[str, AfterValidator(check_bucket)]
S3Prefix = Annotated[str, AfterValidator(check_s3_prefix)]
EndpointUrl = Annotated[str, AfterValidator(check_endpoint_url)]
S3Region = Annotated[str, AfterValidator(check_s3_region)]
AwsCli = Annotated[str, AfterValidator(check_aws_cli)]
Stanza = Annotated[str, AfterValidator(check_stanza)]
TimeZone = Annotated[str, AfterValidator(check_timezone)]
DataSize = Annotated[str, BeforeValidator(check_data_size)]
"""The data size: bytes (2TB) or less_than_ram | about_ram | more_than_ram, kept normalised."""
