"""Value formats with one definition each, shared by the fast and the slow path.

``date-time`` is RFC 3339 section 5.6 exactly (``T``/``Z`` in either case, ``:`` in
the offset, leap second 60 allowed, ASCII digits only, nothing after the offset) and
calendar-correct, written as one regular expression. The ``all_*`` functions answer
for a whole column of values at once, in C loops, for the fast path's batch checks;
each agrees with its one-value form.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import compress, repeat
from operator import ge, itemgetter, mod
from typing import Any

# [0-9], not \d: \d also matches other scripts' digits ("٢٠٢٤"), which RFC 3339 does not.
_Y = r"[0-9]{4}"
# Day-of-month by month, with 29 February only in leap years (Gregorian rule).
_MD = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = r"(?:[0-9][0-9](?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DATE = rf"(?:{_Y}-{_MD}|{_LEAP_YEAR}-02-29)"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]+)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_DATE_TIME_BODY = rf"{_DATE}[Tt]{_TIME}{_OFFSET}"
# \Z, not $: $ also matches before a trailing newline.
DATE_TIME_PATTERN = rf"^{_DATE_TIME_BODY}\Z"
_DATE_TIME_RE = re.compile(DATE_TIME_PATTERN)
# A column joined with newlines (which no date-time contains): one regex run for all.
_DATE_TIME_LINES_RE = re.compile(rf"(?:{_DATE_TIME_BODY}\n)*")
# Shapes of date-times with every digit written as 9 (datetime.fromisoformat checks the
# ranges in C, all but the offset's minutes).
_DIGITS_TO_9 = bytes.maketrans(b"0123456789", b"9999999999")
_DATE_TIME_SHAPE_RE = re.compile(rb"9999-99-99T99:99:99(?:\.9+)?(?:Z|[+-]99:99)")
_OFFSET_RE = re.compile(r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]")
_LAST6 = itemgetter(slice(-6, None))

# ISO 9362: 4 letters (institution), 2 letters (country), 2 alnum (location), optional 3 alnum (branch).
BIC_PATTERN = r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?$"

# ISO 13616 lengths per country (SWIFT IBAN registry).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip

_IBAN_DIGITS = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})


def is_date_time(value: Any) -> bool:
    return isinstance(value, str) and _DATE_TIME_RE.match(value) is not None


def parse_instant(value: Any) -> datetime | None:
    """An RFC 3339 date-time as an aware datetime, or None when it is not one."""
    if not is_date_time(value):
        return None
    try:
        # Python 3.11 reads the common forms (``Z``, offsets, up to 6 fraction digits) in C.
        return datetime.fromisoformat(value)
    except ValueError:
        pass
    text = value.upper().replace("Z", "+00:00")
    date_part, _, rest = text.partition("T")
    match = _TIME_PARTS.match(rest)
    if not match:
        return None
    hhmm, seconds, fraction, offset = match.groups()
    # fromisoformat takes at most 6 fractional digits; a leap second is clamped to :59.
    seconds = "59" if seconds == "60" else seconds
    fraction = (fraction or "")[:7]
    try:
        return datetime.fromisoformat(f"{date_part}T{hhmm}{seconds}{fraction}{offset}")
    except ValueError:
        return None


_TIME_PARTS = re.compile(r"(\d\d:\d\d:)(\d\d)(\.\d+)?(.*)")


# "LT" -> "2129": the letters of a country code as ISO 13616 digits, precomputed.
_COUNTRY_DIGITS = {cc: cc.translate(_IBAN_DIGITS) for cc in IBAN_LENGTHS}


def is_iban(value: Any) -> bool:
    """ISO 13616: known country length and mod-97 == 1."""
    if not isinstance(value, str) or len(value) < 5:
        return False
    country = value[:2]
    expected = IBAN_LENGTHS.get(country)
    if expected is not None and len(value) != expected:
        return False
    bban = value[4:]
    prefix = _COUNTRY_DIGITS.get(country)
    if prefix is not None and bban.isdigit() and value[2:4].isdigit():
        # Most countries' BBANs are digits only: skip the per-character translation.
        return int(f"{bban}{prefix}{value[2:4]}") % 97 == 1
    rearranged = (bban + value[:4]).translate(_IBAN_DIGITS)
    if not rearranged.isdigit():
        return False
    return int(rearranged) % 97 == 1


def not_before(later: Any, earlier: Any) -> bool:
    """True unless both are date-times and ``later`` is strictly before ``earlier``."""
    if (
        later.__class__ is str
        and earlier.__class__ is str
        and len(later) == len(earlier)
        and later[-1] in "Zz"
        and earlier[-1] in "Zz"
        and is_date_time(later)
        and is_date_time(earlier)
    ):
        # Same shape, both UTC: the text orders like the instants (case folded for T/Z).
        return later.upper() >= earlier.upper()
    a, b = parse_instant(later), parse_instant(earlier)
    if a is None or b is None:
        return True
    return a >= b


def not_before_valid(later: str, earlier: str) -> bool:
    """:func:`not_before` for values already proven to be RFC 3339 date-times."""
    if len(later) == len(earlier) and later[-1] in "Zz" and earlier[-1] in "Zz":
        return later.upper() >= earlier.upper()
    try:
        return datetime.fromisoformat(later) >= datetime.fromisoformat(earlier)
    except ValueError:  # lower-case T/Z, leap second, >6 fraction digits
        return not_before(later, earlier)


# ------------------------------------------------------------------ whole columns


def _lines(values: list[Any]) -> str | None:
    """The values joined one per line, or None when they are not all one-line strings."""
    try:
        joined = "\n".join(values)
    except TypeError:
        return None
    # A value holding a newline would split into two "lines": count them.
    return joined + "\n" if joined.count("\n") == len(values) - 1 else None


def all_date_times(values: list[Any]) -> bool:
    """``all(map(is_date_time, values))``, in one regex run over the joined column."""
    if not values:
        return True
    lines = _lines(values)
    return lines is not None and _DATE_TIME_LINES_RE.fullmatch(lines) is not None


# In a joined column: a line that is not a date-time (one scan finds them all).
_NOT_DATE_TIME_LINE_RE = re.compile(rf"^(?!{_DATE_TIME_BODY}$).*$", re.MULTILINE)


def failing_date_times(values: list[Any]) -> set[str] | None:
    """The values that are not date-times (``is_date_time`` false), from one regex
    scan over the joined column; None when they are not all one-line strings."""
    if not values:
        return set()
    lines = _lines(values)
    if lines is None:
        return None
    return {m.group() for m in _NOT_DATE_TIME_LINE_RE.finditer(lines, 0, len(lines) - 1)}


def parse_date_times(values: list[Any]) -> list[datetime] | None:
    """Every value as an aware datetime when all are RFC 3339 date-times in the forms
    ``fromisoformat`` reads (nearly all: not a leap second, lower-case ``t``/``z`` or
    year 0); None otherwise, and :func:`all_date_times` decides."""
    if not values:
        return []
    lines = _lines(values)
    if lines is None or not lines.isascii():
        return None
    # The distinct shapes of the column (a handful), from one C translation of it.
    shapes = set(lines.encode("ascii").translate(_DIGITS_TO_9).split(b"\n"))
    shapes.discard(b"")
    if not all(map(_DATE_TIME_SHAPE_RE.fullmatch, shapes)):
        return None
    try:  # month, day (leap years), hour, minute, second, |offset| < 24 h: in C
        parsed = list(map(_fromiso, values))
    except ValueError:
        return None
    if any(shape.endswith(b"99:99") for shape in shapes):
        # fromisoformat reads "+05:60" as +06:00: the offsets' minutes, checked once each.
        with_offset = compress(values, map(_has_offset, values))
        if not all(map(_OFFSET_RE.fullmatch, set(map(_LAST6, with_offset)))):
            return None
    return parsed


def _has_offset(value: str) -> bool:
    return value[-1] != "Z"


# 10**6 is invertible mod 97: B * 10**6 + S == 1 (mod 97)  <=>  B == (1 - S) * inv (mod 97).
_INV_MILLION = pow(10**6, -1, 97)
_HEAD = itemgetter(slice(0, 4))
_fromiso = datetime.fromisoformat
_BBAN = itemgetter(slice(4, None))


def _bban_residue(head: str, length: int) -> int | None:
    """What int(BBAN) % 97 must be for an IBAN of ``length`` starting with ``head``
    (country and check digits), or None when it needs the one-value check."""
    prefix = _COUNTRY_DIGITS.get(head[:2])
    check = head[2:4]
    if (
        prefix is None
        or IBAN_LENGTHS[head[:2]] != length
        or not (check.isascii() and check.isdigit())
    ):
        return None
    return (1 - int(prefix + check)) * _INV_MILLION % 97


def all_ibans(values: list[Any]) -> bool:
    """``all(map(is_iban, values))``: for known countries with all-digit BBANs (nearly
    every IBAN) as a few C loops over the column; anything else value by value."""
    try:
        heads = list(map(_HEAD, values))
        bbans = list(map(_BBAN, values))
        joined = "".join(bbans)
    except TypeError:  # not all strings
        return all(map(is_iban, values))
    # bytes.isdigit is ASCII-only and ten times faster than str.isdigit.
    if not (joined.isascii() and joined.encode("ascii").isdigit()):
        return all(map(is_iban, values))
    lengths = set(map(len, values))
    keys: list[Any] = heads
    if len(lengths) == 1:  # one length (one country, mostly): look up by head alone
        length = lengths.pop()
        residue_of = {head: _bban_residue(head, length) for head in set(heads)}
    else:
        keys = list(zip(heads, map(len, values), strict=False))
        residue_of = {key: _bban_residue(*key) for key in set(keys)}
    # residue_of: what int(BBAN) % 97 must be; None: a wrong length or an unusual head.
    if None in residue_of.values():
        return all(map(is_iban, values))
    residues = list(map(mod, map(int, bbans), repeat(97)))
    return residues == list(map(residue_of.__getitem__, keys))


def all_not_before(later: list[str], earlier: list[str]) -> bool:
    """``all(map(not_before_valid, later, earlier))`` for proven date-times."""
    try:
        return all(map(ge, map(_fromiso, later), map(_fromiso, earlier)))
    except (ValueError, TypeError):  # forms fromisoformat does not read; naive vs aware
        return all(map(not_before_valid, later, earlier))


# Named checks usable from rule files as ``check: <name>``, and their column forms.
CHECKS = {
    "iban": is_iban,
    "date-time": is_date_time,
}
ALL_CHECKS = {
    "iban": all_ibans,
    "date-time": all_date_times,
}
# The failing values of a column at once, where that beats one call per value.
FAILING = {
    "date-time": failing_date_times,
}
