"""Cron schedules: five fields (names of months and days allowed) or an ``@word``.

Part of :mod:`pgforge.spec.grammar` (the spec's input grammars; escaping where values leave is
:mod:`pgforge.render.escape`). The schedule is written by :func:`pgforge.render.escape.cron_schedule`; the
sections that take one are :mod:`pgforge.spec.backup` and :mod:`pgforge.spec.archive`.
"""

from __future__ import annotations

from pgforge.spec.grammar.text import _full, show


CRON_WORDS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (what, lowest, highest, names that stand for lowest, lowest+1, ...)
_CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
                ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS))
_CRON_ITEM = _full(r"(?:\*|(?P<a>[0-9]{1,2}|[A-Za-z]{3})(?:-(?P<b>[0-9]{1,2}|[A-Za-z]{3}))?)"
                   r"(?:/(?P<step>[0-9]{1,2}))?")


def _cron_number(text: str, what: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text.isdigit():
        number = int(text)
    elif text.lower() in names:
        number = low + names.index(text.lower())
    else:
        raise ValueError(f"{what} {text!r} is not a number" + (f" or a name ({', '.join(names)})" if names else ""))
    if not low <= number <= high:
        raise ValueError(f"{what} {number} is out of range {low}-{high}")
    return number


def _cron_field(field: str, what: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for item in field.split(","):
        m = _CRON_ITEM.fullmatch(item)
        if not m:
            raise ValueError(f"{what} {item!r} is not cron syntax (*, N, N-M, */S, N-M/S, comma-separated)")
        if m["a"] is not None:
            a = _cron_number(m["a"], what, low, high, names)
            if m["b"] is not None:
                b = _cron_number(m["b"], what, low, high, names)
                if a > b:
                    raise ValueError(f"{what} range {item!r} runs backwards")
            elif m["step"] is not None:
                raise ValueError(f"{what} {item!r}: a step needs * or a range before it (*/S or N-M/S)")
        if m["step"] is not None and not 1 <= int(m["step"]) <= high - low + 1:
            raise ValueError(f"{what} step {m['step']!r} must be between 1 and {high - low + 1}")


def check_cron_schedule(value: str) -> str:
    """The time part of a crontab line, and nothing else: five fields (minute, hour, day of month,
    month, day of week), each ``*``, a number, a range ``N-M``, a step ``*/S`` or ``N-M/S``, or a
    comma list of those, with numbers in the field's range (month and day names such as ``jan`` and
    ``mon-fri`` where cron takes them); or one of the words @yearly @annually @monthly @weekly
    @daily @midnight @hourly alone. The user and command of the line come from pgforge only.
    ``@reboot`` is refused: it runs once when cron starts, which is not a backup schedule. Fields are
    separated by spaces; the value is returned with single spaces."""
    fields = value.split(" ")
    fields = [f for f in fields if f]
    if len(fields) == 1 and fields[0].startswith("@"):
        word = fields[0]
        if word == "@reboot":
            raise ValueError("@reboot runs once when cron starts, not on a schedule: give five cron fields "
                             "(such as 30 2 * * *) or @daily, @weekly...")
        if word not in CRON_WORDS:
            raise ValueError(f"{show(value)} is not a cron word: use one of {' '.join(CRON_WORDS)} "
                             "or five cron fields")
        return word
    if len(fields) != 5 or not _full(r"[0-9A-Za-z*,/ -]+").fullmatch(value):
        raise ValueError(f"{show(value)} is not a cron schedule: give the five time fields only (minute hour "
                         "day-of-month month day-of-week, such as 30 2 * * *) or one of "
                         f"{' '.join(CRON_WORDS)} alone")
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS):
        _cron_field(field, what, low, high, names)
    return " ".join(fields)
