"""What the store keeps in English for the record reads in Swedish where the reader does
(`versions`, `audit`): each stored shape, and an unknown text as it was stored."""

from __future__ import annotations

import pytest

from consultbot.text.render import Messages
from consultbot.text.stored import action_text, detail_text, summary_text

SV = Messages("sv")


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("4108 shifts, 52 services", "4108 pass, 52 tjänster"),
        ("69 services", "69 tjänster"),
        ("249 people", "249 personer"),
        ("114 entries", "114 poster"),
        ("something else", "something else"),
    ],
)
def test_summaries(stored: str, shown: str) -> None:
    assert summary_text(stored, SV) == shown


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("roster version 3: a.csv, b.csv", "Schemat version 3: a.csv, b.csv"),
        (
            "staff version 2: p.csv (confirmed anyway)",
            "Personallistan version 2: p.csv (bekräftad trots varning)",
        ),
        (
            "catalogue: version 2 undone, version 1 active",
            "Tjänstekatalogen: version 2 ångrad, version 1 aktiv",
        ),
        ("directory: k.xlsx", "Kontaktlistan: k.xlsx"),
        (
            "kardiologi level 1: @a:x to @b:x until 2026-12-01T17:00:00+00:00",
            "kardiologi nivå 1: @a:x till @b:x t.o.m. 2026-12-01T17:00:00+00:00",
        ),
        (
            "consults --with-people 2026-11-01 – 2026-11-30 (csv) to ut.csv",
            "consults --with-people 2026-11-01 – 2026-11-30 (csv) till ut.csv",
        ),
        ("", ""),
    ],
)
def test_details(stored: str, shown: str) -> None:
    assert detail_text(stored, SV) == shown


def test_actions() -> None:
    assert action_text("rollback", SV) == "återställning"
    assert action_text("export_people", SV) == "export med personer"
    assert action_text("!statistik", SV) == "!statistik"  # a refused command as it was typed
