"""The identity-number guard over a corpus: every written form caught, look-alikes left alone.

Numbers are built here independently of the module (date, serial, Luhn check digit), in each
form clinicians write them, inside sentences like the ones they send. Samordningsnummer include
the ones Skatteverket issues when the birth date is not fully known (month 00, day 60).
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consultbot.domain.commands import contains_personal_number, find_personal_numbers

SENTENCES = (
    "{n}",
    "Pat {n}, 72 år, nytt förmaksflimmer.",
    "pnr: {n}\nHb 123, CRP 45",
    "Gäller ({n}) – ring mig.",
    "Kvinna född {n}.",
)


def luhn(nine: str) -> str:
    """Luhn check digit of YYMMDDNNN (weights 2,1,2,1,…, digit sums)."""
    total = 0
    for i, digit in enumerate(nine):
        product = int(digit) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def forms(century: str, yymmdd: str, serial: str, check: str, *, old: bool) -> list[str]:
    """Every way the number is written: 10 and 12 digits, with -, + (100+), space or nothing."""
    ten = [f"{yymmdd}-{serial}{check}", f"{yymmdd}{serial}{check}", f"{yymmdd} {serial}{check}"]
    if old:
        ten.append(f"{yymmdd}+{serial}{check}")
    twelve = [
        f"{century}{yymmdd}-{serial}{check}",
        f"{century}{yymmdd}{serial}{check}",
        f"{century}{yymmdd} {serial}{check}",
    ]
    return ten + twelve


def assert_caught(number: str) -> None:
    for sentence in SENTENCES:
        text = sentence.format(n=number)
        assert find_personal_numbers(text) == [number], text
        assert contains_personal_number(text)


@settings(max_examples=150, deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 1)),
    serial=st.integers(min_value=0, max_value=999),
    coordination=st.booleans(),
)
def test_every_written_form_of_a_valid_number_is_caught(
    born: date, serial: int, coordination: bool
) -> None:
    day = born.day + (60 if coordination else 0)
    yymmdd = f"{born:%y%m}{day:02d}"
    nine = f"{yymmdd}{serial:03d}"
    for number in forms(f"{born:%Y}"[:2], yymmdd, f"{serial:03d}", luhn(nine), old=True):
        assert_caught(number)


@pytest.mark.parametrize(
    "yymmdd",
    [
        "850160",  # January, birth day unknown
        "851260",  # December, birth day unknown
        "850075",  # birth month unknown, day 15
        "850060",  # birth month and day unknown
    ],
)
def test_samordningsnummer_for_an_unknown_birth_date_are_caught(yymmdd: str) -> None:
    serial = "123"
    for number in forms("19", yymmdd, serial, luhn(yymmdd + serial), old=False):
        assert_caught(number)


@settings(max_examples=100, deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 1)),
    serial=st.integers(min_value=0, max_value=999),
    off_by=st.integers(min_value=1, max_value=9),
)
def test_a_wrong_check_digit_is_left_alone(born: date, serial: int, off_by: int) -> None:
    nine = f"{born:%y%m%d}{serial:03d}"
    wrong = str((int(luhn(nine)) + off_by) % 10)
    for number in forms(f"{born:%Y}"[:2], f"{born:%y%m%d}", f"{serial:03d}", wrong, old=True):
        assert find_personal_numbers(f"Pat {number}.") == []


@pytest.mark.parametrize(
    "text",
    [
        "Ring mig på 070-123 45 67 eller 023-49 00 00.",
        "Mobil +46 70 123 45 67, växel 0250-49 30 00.",
        "Telefon 08-123 456 78",
        "Besök 2026-11-26 kl 14:30, återbesök 26/11 2026.",
        "Hb 123 g/l, CRP 45, LPK 12,3, kreatinin 89 µmol/l, INR 2,3, TSH 1,25.",
        "Blodtryck 145/90, puls 88, saturation 96 %, vikt 72,5 kg.",
        "Gäller konsult K-000123 och K-001234.",
        "Remiss 2026-123456 skickad.",
        "ICD I48.9, KVÅ DT016, ordination 2 x 5 mg.",
        "Pat 121212-1213 har fel kontrollsiffra.",
        "Pat 851399-1234 har inget giltigt datum.",
        "Pat 19850000-1234 har månad och dag 00 utan samordning.",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert find_personal_numbers(text) == []
    assert not contains_personal_number(text)
