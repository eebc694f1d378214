"""Swedish personal identity numbers (personnummer, samordningsnummer) in any text people send.

The guard reads text as a person sees it, not as it is encoded: Unicode compatibility forms
(fullwidth and mathematical digits), digits of other scripts (Arabic-Indic …), invisible
characters (zero-width space, soft hyphen, word joiner, bidi marks) and the dashes and spaces
word processors and phones put in pasted text all read as the plain digit, hyphen or space.
HTML (a message's `formatted_body`) is read as its visible text: tags between the digits do not
hide a number, character references (`&#45;`, `&nbsp;`) are what they stand for.

A candidate is a number only when its date exists (day + 60 for a samordningsnummer) and its
Luhn check digit matches. A Swedish mobile number written as ten bare digits (07…) is a phone
number, not a personnummer (see `find_personal_numbers`).

Every step is linear in the length of the text: no pattern here can backtrack beyond a fixed
window.
"""

from __future__ import annotations

import calendar
import html
import re
import unicodedata

# Unicode categories that draw nothing (format characters, combining marks): removed.
_INVISIBLE = frozenset({"Cf", "Mn", "Me"})
# Dashes of every kind read as a hyphen; the minus sign and its look-alikes too.
_MINUS_LIKE = frozenset({"\u2212", "\u02d7", "\u2043", "\u2796"})
_TABLE_CACHE_LIMIT = 4096  # distinct characters remembered; hostile text cannot grow it further


class _SearchTable(dict[int, int | str | None]):
    """`str.translate` table computed per character on first sight (C speed afterwards)."""

    def __missing__(self, code: int) -> int | str | None:
        char = chr(code)
        category = unicodedata.category(char)
        value: int | str | None = code
        if category in _INVISIBLE:
            value = None
        elif category == "Nd":
            value = str(unicodedata.decimal(char))
        elif category == "Pd" or char in _MINUS_LIKE:
            value = "-"
        elif category == "Zs":
            value = " "
        if len(self) < _TABLE_CACHE_LIMIT:
            self[code] = value
        return value


_TABLE = _SearchTable()


def searchable_text(text: str) -> str:
    """`text` as a reader sees its digits: NFKC, digits of any script as 0–9, every dash as
    `-`, every space as ` `, invisible characters removed. Only for searching, never shown."""
    text = unicodedata.normalize("NFKC", text)
    if text.isascii():
        return text
    return text.translate(_TABLE)


# A tag that breaks the line where it stands; every other tag is inline and joins its
# neighbours (`19121212<b>-</b>1212` reads as one number). `[^<>]*` keeps matching linear.
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|tr|td|th|table|h[1-6]|blockquote|pre|hr|mx-reply)\b[^<>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^<>]*>")


def html_text(markup: str) -> str:
    """The visible text of Matrix HTML (`formatted_body`): tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", markup)))


# After `searchable_text`: between date and number a hyphen, plus (100 years or older) or slash,
# each with or without a space or tab on either side (`121212 - 1212`, as people type it); a
# space or tab alone; or nothing. A digit directly before or after never belongs to a number.
_PERSONAL_NUMBER = re.compile(
    r"(?<![0-9])"
    r"(?P<century>19|20)?"
    r"(?P<yy>[0-9]{2})(?P<mm>[0-9]{2})(?P<dd>[0-9]{2})"
    r"(?P<separator>[ \t]?[-+/][ \t]?|[ \t])?"
    r"(?P<serial>[0-9]{3})(?P<check>[0-9])"
    r"(?![0-9])"
)
_COORDINATION_OFFSET = 60
_MOBILE_PREFIX = "07"  # Swedish mobile numbers: 07X XXX XX XX, ten digits


def _valid_date(year: int, month: int, day: int) -> bool:
    """A birth date a personnummer or samordningsnummer can carry.

    A samordningsnummer adds 60 to the day. Skatteverket issues them for people whose birth
    date is not fully known: the unknown day is written 00 (so 60) and an unknown month 00.
    """
    if day < _COORDINATION_OFFSET:
        return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
    day -= _COORDINATION_OFFSET
    if month == 0:
        return 0 <= day <= 31
    return 1 <= month <= 12 and 0 <= day <= calendar.monthrange(year, month)[1]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return total % 10 == 0


def _is_mobile_number(match: re.Match[str]) -> bool:
    # Ten bare digits starting 07 are how a mobile number is pasted; a personnummer of someone
    # born in 2007 (or 1907) is written with its hyphen (or +) or as twelve digits.
    return not match["century"] and not match["separator"] and match["yy"] == _MOBILE_PREFIX


def _is_consult_id(match: re.Match[str]) -> bool:
    """`K-000201 - 0007`: a consult id (six digits after `K-`) and something else, however
    they add up; ten or twelve digits straight after `K-` are no consult id."""
    before = match.string[max(0, match.start() - 2) : match.start()]
    return before.upper() == "K-" and not match["century"] and bool(match["separator"])


def _is_personal_number(match: re.Match[str]) -> bool:
    if _is_mobile_number(match) or _is_consult_id(match):
        return False
    yy, mm, dd = int(match["yy"]), int(match["mm"]), int(match["dd"])
    centuries = (int(match["century"]),) if match["century"] else (19, 20)
    if not any(_valid_date(century * 100 + yy, mm, dd) for century in centuries):
        return False
    return _luhn_ok(match["yy"] + match["mm"] + match["dd"] + match["serial"] + match["check"])


def find_personal_numbers(text: str) -> list[str]:
    """Every personnummer or samordningsnummer in `text`, as read by `searchable_text`.

    Accepts YYMMDD-NNNN, YYMMDD+NNNN, YYMMDDNNNN, YYYYMMDD-NNNN, YYYYMMDDNNNN, with a space,
    tab or slash for the hyphen, a space or tab on either side of the hyphen, plus or slash
    (`121212 - 1212`), and any dash (en, em, minus, non-breaking hyphen …) as a hyphen.
    The date must exist (day + 60 for samordningsnummer, whose month or day may be 00 when the
    birth date is unknown; for 10-digit forms in either 19xx or 20xx) and the Luhn check digit
    over YYMMDDNNN must match. Digits directly before or after never belong to a match, so
    longer numbers are not picked apart. Ten bare digits starting 07 are a mobile number; six
    digits after `K-` and then a separator are a consult id.
    """
    return [
        m.group()
        for m in _PERSONAL_NUMBER.finditer(searchable_text(text))
        if _is_personal_number(m)
    ]


def contains_personal_number(text: str) -> bool:
    """True when `text` holds a personnummer or samordningsnummer (see find_personal_numbers)."""
    return any(_is_personal_number(m) for m in _PERSONAL_NUMBER.finditer(searchable_text(text)))
