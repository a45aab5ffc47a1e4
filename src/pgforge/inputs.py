"""Reading what a user hands pgforge: files and stdin, with a size bound, and nothing but regular files.

Every file pgforge reads on a user's say-so (a spec, a profile, an inventory, a baseline, a
postgresql.conf and the files it includes, pg_hba.conf and its ``@file`` lists, pgbouncer.ini and its
``%include`` files, a data directory's PG_VERSION) goes through :func:`read_bytes`, which

* opens without blocking, so a FIFO planted as an include cannot hang the audit;
* checks the *opened* file (``fstat``, not a racy ``stat`` of the name) is a regular file, and refuses
  a directory, a FIFO, a socket or a device by name, before reading a byte of it (``/dev/zero`` and
  ``/dev/urandom`` never end; a directory is not a config);
* reads at most ``limit + 1`` bytes and refuses a larger file with a message that gives the limit.

Configs may legitimately be symlinks (Debian links ``/etc/postgresql`` files around), so links are
followed; what they point to must be a regular file.

Failures are ``OSError`` (so the parsers, which turn an unreadable include into a diagnostic at the
directive, keep doing so); :func:`read_text` and :func:`read_stdin` turn them into a
:class:`~pgforge.errors.UserError` naming the file, for callers that stop (exit 2).

:func:`check_tree_size` bounds what a parsed document *expands* to: a few lines of YAML aliases
("billion laughs") can stand for 10^9 values, which the file size limit cannot catch.

The writer counterpart (atomic, no symlink following) is :mod:`pgforge.writer`.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from typing import Any

from pgforge.errors import UserError

MiB = 1024 * 1024

#: A spec, a profile or one configuration file. The largest real postgresql.conf (every setting
#: with its stock comment) is about 30 kB, a spec a few kB: 16 MiB is 500 times that, reads in well
#: under a second, and still bounds memory and parse time (YAML parses at about 4 MB/s).
MAX_FILE_BYTES = 16 * MiB
#: An Ansible inventory or a check baseline grows with the fleet: 64 MiB holds over 100,000 hosts
#: or about a million finding fingerprints.
MAX_FLEET_FILE_BYTES = 64 * MiB
#: PG_VERSION holds a major such as ``17`` and a newline.
MAX_VERSION_FILE_BYTES = 4096

#: How many values (scalars, lists, mappings) a spec may expand to once YAML aliases are followed.
#: A spec has a few hundred; a profile about fifty.
MAX_SPEC_NODES = 100_000
#: The same for an inventory: 10,000 hosts with a dozen variables each are 150,000 values.
MAX_INVENTORY_NODES = 5_000_000


class RefusedInput(OSError):
    """A file pgforge will not read: not a regular file, or larger than the limit.

    ``strerror`` is the reason in words (``is a FIFO (named pipe), not a regular file``), as
    the parsers print ``exc.strerror`` for an include they cannot read.
    """

    def __init__(self, path: str, reason: str, code: int = errno.EINVAL) -> None:
        super().__init__(code, reason, path)


def file_kind(mode: int) -> str:
    """What a file is, in words, from its ``st_mode`` (for messages; the writer's too)."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


def too_large(limit: int) -> str:
    """The reason given for input over ``limit`` bytes."""
    return f"too large: pgforge reads at most {_size(limit)} here"


def read_bytes(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises ``FileNotFoundError`` / ``PermissionError`` as ``open`` does, and :class:`RefusedInput`
    for a directory, FIFO, socket or device (named in the message) or a file over ``limit``.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO/device without the other end
            try:
                kind = file_kind(os.stat(name).st_mode)
            except OSError:
                raise exc from None
            raise RefusedInput(name, f"is {kind}, not a regular file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = file_kind(mode)
            reason = kind if kind.startswith("not ") else f"is {kind}, not a regular file"
            raise RefusedInput(name, reason, errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL)
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(limit + 1 - got, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    if got > limit:
        raise RefusedInput(name, too_large(limit), errno.EFBIG)
    return b"".join(chunks)


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` as UTF-8, or a UserError naming the line and byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.start + 1].hex()
        raise UserError(f"not UTF-8 text (byte 0x{bad} on line {line}): save the file as UTF-8", where) from None


def read_text(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES, where: str | None = None) -> str:
    """A user's text file as ``str``, or a UserError (exit 2) that names it and says why not."""
    name = where or os.fspath(path)
    try:
        data = read_bytes(path, limit=limit)
    except FileNotFoundError:
        raise UserError("no such file", name) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", name) from None
    return decode_utf8(data, name)


def read_stdin(what: str = "<stdin>", *, limit: int = MAX_FILE_BYTES) -> str:
    """All of stdin (for options that take ``-``), at most ``limit`` bytes; ``/dev/zero`` ends in a UserError."""
    stream = getattr(sys.stdin, "buffer", None)
    try:
        data = stream.read(limit + 1) if stream is not None else sys.stdin.read(limit + 1).encode("utf-8")
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", what) from None
    if data is None:  # a non-blocking stdin with nothing in it yet
        data = b""
    if len(data) > limit:
        raise UserError(too_large(limit), what)
    return decode_utf8(data, what)


def check_tree_size(value: Any, limit: int, where: str) -> None:
    """Refuse a parsed document that expands to more than ``limit`` values (or refers to itself).

    YAML anchors and aliases share one object, so loading is cheap, but every later walk (merging,
    validation) visits each reference: count the visits, and stop as soon as the count passes the
    limit, so the check costs at most ``limit`` steps whatever the document.
    """
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    path_ids: list[int] = []  # containers on the current path, to catch an alias to an ancestor
    while stack:
        node, depth = stack.pop()
        del path_ids[depth:]
        count += 1
        if count > limit:
            raise UserError(f"the document expands to more than {limit:,} values (YAML aliases repeated"
                            " inside each other?); pgforge reads smaller documents", where)
        if isinstance(node, dict):
            children = [item for pair in node.items() for item in pair]
        elif isinstance(node, (list, tuple)):
            children = list(node)
        else:
            continue
        if id(node) in path_ids:
            raise UserError("the document contains itself (a YAML alias to an enclosing anchor)", where)
        path_ids.append(id(node))
        if len(path_ids) > 200:
            raise UserError("the document is nested more than 200 levels deep", where)
        stack.extend((child, depth + 1) for child in reversed(children))
