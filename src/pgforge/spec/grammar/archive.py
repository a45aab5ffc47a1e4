"""Where WAL and backups go: S3 bucket names, key prefixes, endpoint URLs, regions, the aws CLI
command word, and pgBackRest stanza names.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). The section is :mod:`pgforge.spec.archive`; the files it
becomes are :mod:`pgforge.bundle.archive`.
"""

from __future__ import annotations

from pgforge.spec.grammar.network import is_host_name, is_ip_address
from pgforge.spec.grammar.paths import check_safe_path
from pgforge.spec.grammar.text import _full, show


_BUCKET = _full(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket(value: str) -> str:
    """An S3 bucket name by AWS's rules: 3-63 characters of lower-case letters, digits, dots and
    hyphens, starting and ending with a letter or digit, no ``..``, not shaped like an IP address,
    not starting with ``xn--`` or ``sthree-`` and not ending with ``-s3alias`` or ``--ol-s3``."""
    if not _BUCKET.fullmatch(value):
        raise ValueError(f"bucket {show(value)}: 3-63 lower-case letters, digits, dots and hyphens, "
                         "starting and ending with a letter or digit")
    if ".." in value:
        raise ValueError(f"bucket {show(value)}: two dots in a row are not allowed in a bucket name")
    if _full(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}").fullmatch(value):
        raise ValueError(f"bucket {show(value)}: a bucket name cannot be shaped like an IP address")
    if value.startswith(("xn--", "sthree-")) or value.endswith(("-s3alias", "--ol-s3")):
        raise ValueError(f"bucket {show(value)}: the prefixes xn-- and sthree- and the suffixes -s3alias and "
                         "--ol-s3 are reserved by AWS")
    return value


_S3_PREFIX = _full(r"[A-Za-z0-9._/=+-]{0,1024}")


def check_s3_prefix(value: str) -> str:
    """A key prefix inside a bucket: letters, digits and ``. _ / = + -``, path-like (no empty, ``.`` or
    ``..`` components). Leading and trailing slashes are dropped."""
    if not _S3_PREFIX.fullmatch(value):
        raise ValueError(f"prefix {show(value)}: use letters, digits and . _ / = + - (no spaces or quotes)")
    value = value.strip("/")
    if "//" in value or any(part in (".", "..") for part in value.split("/")):
        raise ValueError("an S3 prefix is path-like: no empty, . or .. components")
    return value


_URL = _full(r"(?P<scheme>https?)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
             r"(?P<path>/[A-Za-z0-9._/-]*)?")


def check_endpoint_url(value: str) -> str:
    """An S3-compatible endpoint: ``http(s)://host[:port][/path]``, the host a name or an IP address
    (IPv6 in brackets), the port 1-65535, the path of letters, digits and ``. _ / -``."""
    m = _URL.fullmatch(value)
    bad = m is None
    if m is not None:
        host = m["host"]
        bad = not (is_ip_address(host[1:-1]) and ":" in host if host.startswith("[") else
                   is_ip_address(host) or is_host_name(host))
        bad = bad or (m["port"] is not None and not 1 <= int(m["port"]) <= 65535)
    if bad:
        raise ValueError(f"endpoint_url {show(value)}: give http(s)://host[:port][/path], such as "
                         "https://s3.eu-west-1.amazonaws.com or http://10.0.0.5:9000")
    return value


def check_s3_region(value: str) -> str:
    """A region name such as ``eu-west-1``: lower-case letters, digits and inner hyphens, at most 32."""
    if not _full(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?").fullmatch(value):
        raise ValueError(f"region {show(value)}: use lower-case letters, digits and hyphens, such as eu-west-1")
    return value


def check_aws_cli(value: str) -> str:
    """The aws CLI as a command word: a plain program name found on PATH (``aws``) or an absolute
    :func:`safe path <check_safe_path>`."""
    if value.startswith("/"):
        return check_safe_path(value)
    if not _full(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,63}").fullmatch(value):
        raise ValueError(f"aws_cli {show(value)}: give a program name such as aws or an absolute path")
    return value


def check_stanza(value: str) -> str:
    """A pgBackRest stanza name: letters, digits and ``_ . -``, starting with a letter, digit or _, at most 64."""
    if not _full(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}").fullmatch(value):
        raise ValueError(f"stanza {show(value)}: use letters, digits and _ . - (starting with a letter, digit or _)")
    return value
