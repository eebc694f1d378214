"""Checks of single values in data files that every reader shares.

Each check returns a problem code and its values (or None), so that each reader reports it
with its own file, line and cell.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from consultbot.domain.files import phones

Found = tuple[str, dict[str, str]]
# The codes of these checks that are warnings; every other one is an error.
WARNING_CODES = frozenset({"undialable_phone"})

# Characters that break a line or reorder text when shown: a name with one of them renders
# as two lines in a page, or (bidi overrides) shows a different name than it is.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})

DALARNA = (
    "Avesta", "Borlänge", "Falun", "Gagnef", "Hedemora", "Leksand", "Ludvika", "Malung-Sälen",
    "Mora", "Orsa", "Rättvik", "Smedjebacken", "Säter", "Vansbro", "Älvdalen",
)  # fmt: skip
"""The default county: Dalarna's 15 municipalities (`bot.county_municipalities`)."""


@dataclass(frozen=True, kw_only=True)
class FileRules:
    """What the configuration allows in data files.

    `servers`: the homeservers a Matrix id in a roster or staff list may be on (the allowed
    servers and the bot's own), lower case; empty means not checked. `municipalities`: the
    county's municipalities a catalogue may name; empty means not checked."""

    servers: frozenset[str] = frozenset()
    municipalities: tuple[str, ...] = ()


def fold(text: str) -> str:
    """Case-folded, without diacritics (å→a, é→e), single spaces: how people confuse names."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split())


def control_character(column: str, text: str) -> Found | None:
    """A problem when `text` holds a control character (a line break, a tab, a bidi override),
    named by its code point; else None."""
    if text.isprintable():
        return None  # the common case, in C: no Cc, Cf, Zl or Zp character at all
    for ch in text:
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in _LINE_BREAKING:
            return "control_character", {"column": column, "char": f"U+{ord(ch):04X}"}
    return None


def server_not_allowed(user: str, rules: FileRules) -> Found | None:
    """A problem when the (normalised) Matrix id `user` is on a server the config does not
    allow; None when it is allowed or the rules do not check servers."""
    server = user.split(":", 1)[-1]
    if not rules.servers or server.lower() in rules.servers:
        return None
    return "server_not_allowed", {
        "user": user,
        "server": server,
        "allowed": ", ".join(sorted(rules.servers)),
    }


def municipality_problem(name: str, rules: FileRules) -> Found | None:
    """A problem when `name` is not one of the county's municipalities (with the right
    spelling when only case or diacritics differ); None when it is, or is not checked."""
    if not rules.municipalities or name in rules.municipalities:
        return None
    spelled = next((m for m in rules.municipalities if fold(m) == fold(name)), None)
    if spelled is not None:
        return "municipality_spelling", {"value": name, "right": spelled}
    return "unknown_municipality", {"value": name, "allowed": ", ".join(rules.municipalities)}


def phone_problem(text: str, stored_as_number: bool) -> Found | None:
    """An error for a phone number that lost its leading 0 (a spreadsheet stored it as a
    number: 701234567 for 070-123 45 67), with the number to write; else None.

    `stored_as_number`: the cell was a number (XLSX), not text (a CSV saved by Excel)."""
    digits = text.strip()
    if not digits.isdigit() or digits.startswith("0"):
        return None
    if phones.dialable(digits) and phones.is_short(digits):
        return None  # 112, 1177: no leading 0 to lose
    if not phones.dialable("0" + digits):
        return None
    code = "phone_stored_as_number" if stored_as_number else "phone_lost_zero"
    return code, {"value": digits, "fixed": "0" + digits}


def phone_check(text: str, stored_as_number: bool) -> Found | None:
    """A number that lost its leading 0 (an error, see `phone_problem`), or one nobody can
    dial (`undialable_phone`, a warning); else None."""
    lost = phone_problem(text, stored_as_number)
    if lost is None and not phones.dialable(text):
        return "undialable_phone", {"value": text}
    return lost


def servers_of(allowed: Iterable[str], own_user: str = "") -> frozenset[str]:
    """The servers a data file may name: the allowed ones and the bot's own (from its id)."""
    servers = {s.strip().lower() for s in allowed if s.strip()}
    if ":" in own_user:
        servers.add(own_user.split(":", 1)[1].lower())
    return frozenset(servers)
