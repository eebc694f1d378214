"""The identity-number guard over a corpus: every written form caught, look-alikes left alone.

Numbers are built here independently of the module (date, serial, Luhn check digit), in each
form clinicians write them or a copy from the journal, a phone or a word processor produces:
10 and 12 digits; every separator people type between date and number; digits of other
scripts and compatibility forms (fullwidth, mathematical, Arabic-Indic …); invisible characters
(zero-width space, soft hyphen …) inside; and HTML as in a message's `formatted_body`. They sit
inside sentences like the ones clinicians send. Samordningsnummer include the ones Skatteverket
issues when the birth date is not fully known (month 00, day 60).

Look-alikes that must never be redacted: dates, times, phone numbers (a mobile number pasted
as ten bare digits 07… included, even where its digits would pass as a date and check digit),
consult ids, lab values.
"""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from hypothesis import assume, given, settings, strategies as st

from consultbot.domain.chat.personal_numbers import (
    contains_personal_number,
    find_personal_numbers,
    html_text,
)

SENTENCES = (
    "{n}",
    "Pat {n}, 72 år, nytt förmaksflimmer.",
    "pnr: {n}\nHb 123, CRP 45",
    "Gäller ({n}) – ring mig.",
    "Kvinna född {n}.",
    "> <@doktor:region.example> pat {n} har ont\n\nSvar: ring mig",
)

# Separator as typed → as the guard reads it (every dash a hyphen, every space a space).
SEPARATORS = {
    "-": "-",
    "+": "+",  # 100 years or older
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash (word processors' autocorrect)
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\ufe63": "-",  # small hyphen-minus
    "\uff0d": "-",  # fullwidth hyphen-minus
    "\uff0b": "+",  # fullwidth plus
    " ": " ",
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space (macOS, iOS)
    "\u2009": " ",  # thin space
    "\t": "\t",  # a table cell copied from the journal
    "/": "/",
    "": "",
    # Spaces around the dash, as typed on a keyboard or a phone (which may make it an en dash).
    " - ": " - ",
    " \u2013 ": " - ",
    " -": " -",
    "- ": "- ",
    "\u00a0\u2013\u00a0": " - ",  # word processors: no-break spaces around an en dash
    " + ": " + ",
    " / ": " / ",
    "\t-\t": "\t-\t",
}

# The digit zero of each script; the other digits follow it in Unicode.
SCRIPTS = {
    "ascii": "0",
    "fullwidth": "\uff10",
    "arabic-indic": "\u0660",
    "persian": "\u06f0",
    "devanagari": "\u0966",
    "bengali": "\u09e6",
    "mathematical bold": "\U0001d7ce",
    "mathematical monospace": "\U0001d7f6",
}

INVISIBLES = {
    "none": "",
    "zero-width space": "\u200b",
    "soft hyphen": "\u00ad",
    "word joiner": "\u2060",
    "zero-width no-break space": "\ufeff",
    "zero-width joiner": "\u200d",
    "left-to-right mark": "\u200e",
}


def luhn(nine: str) -> str:
    """Luhn check digit of YYMMDDNNN (weights 2,1,2,1,…, digit sums)."""
    total = 0
    for i, digit in enumerate(nine):
        product = int(digit) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def in_script(text: str, zero: str) -> str:
    return "".join(chr(ord(zero) + int(c)) if c.isascii() and c.isdigit() else c for c in text)


def with_invisible(text: str, invisible: str) -> str:
    """`invisible` between every two characters, as some editors and copies leave them."""
    return invisible.join(text)


def is_mobile(read: str) -> bool:
    """Ten bare digits starting 07: how a mobile number is pasted; read as a phone number."""
    return len(read) == 10 and read.isdigit() and read.startswith("07")


def written(century: str, yymmdd: str, four: str, separator: str) -> tuple[str, str]:
    """(as typed, as the guard reads it) for one separator, 10 or 12 digits (`century`)."""
    return (
        f"{century}{yymmdd}{separator}{four}",
        f"{century}{yymmdd}{SEPARATORS[separator]}{four}",
    )


def forms(century: str, yymmdd: str, four: str) -> list[tuple[str, str]]:
    """Every separator, in 10 and 12 digits; a bare 10-digit 07… is a mobile number."""
    return [
        pair
        for separator in SEPARATORS
        for pair in (
            written("", yymmdd, four, separator),
            written(century, yymmdd, four, separator),
        )
        if not is_mobile(pair[1])
    ]


def assert_caught(typed: str, read: str) -> None:
    for sentence in SENTENCES:
        text = sentence.format(n=typed)
        assert find_personal_numbers(text) == [read], repr(text)
        assert contains_personal_number(text), repr(text)


def number_parts(born: date, serial: int, *, coordination: bool = False) -> tuple[str, str]:
    """(YYMMDD, NNNC) of a valid number."""
    day = born.day + (60 if coordination else 0)
    yymmdd = f"{born:%y%m}{day:02d}"
    nine = f"{yymmdd}{serial:03d}"
    return yymmdd, f"{serial:03d}{luhn(nine)}"


# ---------------------------------------------------------------------------------------------
# Table: one number of each kind in every separator × script × invisible character


KINDS = {
    "Skatteverket's test number": (date(1912, 12, 12), 121, False),
    "samordningsnummer": (date(1980, 5, 5), 123, False),
    "born 2007 (a mobile-looking date part)": (date(2007, 1, 23), 456, False),
    "born this century, coordination": (date(2019, 2, 28), 7, True),
    "leap day": (date(2000, 2, 29), 456, False),
}


@pytest.mark.parametrize("separator", list(SEPARATORS), ids=[repr(s) for s in SEPARATORS])
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_form_of_a_number_is_caught(kind: str, separator: str) -> None:
    born, serial, coordination = KINDS[kind]
    yymmdd, four = number_parts(born, serial, coordination=coordination)
    missed = []
    for century in ("", f"{born:%Y}"[:2]):
        typed, read = written(century, yymmdd, four, separator)
        if is_mobile(read):
            continue
        for script, zero in SCRIPTS.items():
            for invisible_name, invisible in INVISIBLES.items():
                text = f"Pat {with_invisible(in_script(typed, zero), invisible)} har ont."
                if find_personal_numbers(text) != [read]:
                    missed.append((script, invisible_name, text))
    assert missed == []


@pytest.mark.parametrize(
    "markup",
    [
        "Pat <b>19121212-1212</b> har ont",
        "Pat 19121212<b>-</b>1212 har ont",
        "Pat 1912<em>1212</em>-<strong>1212</strong>",
        "Pat 19121212&#45;1212",
        "Pat 19121212&#x2D;1212",
        "Pat 19121212&minus;1212",
        "Pat 19121212&ndash;1212",
        "Pat 19121212&#8209;1212",
        "Pat 19121212&nbsp;1212",
        "Pat 121212&shy;-&shy;1212",
        "Pat &#49;&#57;&#49;&#50;&#49;&#50;&#49;&#50;-&#49;&#50;&#49;&#50;",
        "Pat <span data-mx-spoiler>19121212-1212</span>",
        '<font color="#ff0000">1912</font><font color="#00ff00">1212-1212</font>',
        "Pat 19121212<!-- x -->-1212",
        "<mx-reply><blockquote><a href='https://matrix.to/#/!r:s/$e'>I svar på</a> "
        "<a href='https://matrix.to/#/@d:s'>@d:s</a><br>pat 19121212-1212</blockquote>"
        "</mx-reply>Ring mig",
        "<ul><li>Pat: 121212-1212</li></ul>",
    ],
)
def test_a_number_in_html_is_read_as_the_reader_sees_it(markup: str) -> None:
    assert contains_personal_number(html_text(markup)), markup


@pytest.mark.parametrize(
    "markup",
    [
        "Besök <b>2026-12-05</b> kl 14:30",
        "Ring <a href='tel:+46701234567'>070-123 45 67</a>",
        "<p>121212</p><p>1212</p>",  # two paragraphs: two numbers, as the reader sees them
        "Konsult <code>K-000123</code>",
        "https://matrix.to/#/@doktor:region.example",
    ],
)
def test_html_look_alikes_are_left_alone(markup: str) -> None:
    assert not contains_personal_number(html_text(markup)), markup


# ---------------------------------------------------------------------------------------------
# Properties: generated numbers in every form are caught, generated look-alikes are not


@settings(max_examples=300, deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 1)),
    serial=st.integers(min_value=0, max_value=999),
    coordination=st.booleans(),
    twelve=st.booleans(),
    separator=st.sampled_from(list(SEPARATORS)),
    zero=st.sampled_from(list(SCRIPTS.values())),
    invisible=st.sampled_from(list(INVISIBLES.values())),
)
def test_every_written_form_of_a_valid_number_is_caught(
    born: date,
    serial: int,
    coordination: bool,
    twelve: bool,
    separator: str,
    zero: str,
    invisible: str,
) -> None:
    yymmdd, four = number_parts(born, serial, coordination=coordination)
    typed, read = written(f"{born:%Y}"[:2] if twelve else "", yymmdd, four, separator)
    assume(not is_mobile(read))
    assert_caught(with_invisible(in_script(typed, zero), invisible), read)


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
    four = "123" + luhn(yymmdd + "123")
    for typed, read in forms("19", yymmdd, four):
        assert_caught(typed, read)


@settings(max_examples=100, deadline=None)
@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 1)),
    serial=st.integers(min_value=0, max_value=999),
    off_by=st.integers(min_value=1, max_value=9),
)
def test_a_wrong_check_digit_is_left_alone(born: date, serial: int, off_by: int) -> None:
    nine = f"{born:%y%m%d}{serial:03d}"
    wrong = f"{serial:03d}{(int(luhn(nine)) + off_by) % 10}"
    for typed, _ in forms(f"{born:%Y}"[:2], f"{born:%y%m%d}", wrong):
        assert find_personal_numbers(f"Pat {typed}.") == []


DATE_FORMS = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%y%m%d",
    "%d/%m %Y",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M",
    "%Y%m%d %H:%M",
    "%Y%m%d kl %H.%M",
    "%Y%m%dT%H%M%S",
    "%Y-%m-%d–%Y-%m-%d",
    "%d %b %Y",
)


@settings(max_examples=300, deadline=None)
@given(
    when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31)),
    until=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
    form=st.sampled_from(DATE_FORMS),
    zero=st.sampled_from(list(SCRIPTS.values())),
)
def test_dates_and_times_are_left_alone(when: datetime, until: date, form: str, zero: str) -> None:
    text = when.strftime(form)
    ranges = (
        f"{when:%Y%m%d}-{until:%Y%m%d}",
        f"{when:%y%m%d}-{until:%y%m%d}",
        f"{when:%Y%m%d} - {until:%Y%m%d}",
        f"{when:%y%m%d} \u2013 {until:%y%m%d}",
        f"{when:%Y-%m-%d} - {until:%Y-%m-%d}",
    )
    for written_date in (text, *ranges):
        sentence = f"Återbesök {in_script(written_date, zero)}, ring om oklart."
        assert find_personal_numbers(sentence) == [], sentence


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    """A Swedish phone number as people write it: mobiles in every grouping (bare ten digits
    too), landlines with their area code set apart, national or international."""
    if draw(st.booleans()):
        prefix = draw(st.sampled_from(["70", "72", "73", "76", "79"]))
        rest = draw(st.text("0123456789", min_size=7, max_size=7))
        national = [
            f"0{prefix}{rest}",
            f"0{prefix}-{rest}",
            f"0{prefix}-{rest[:3]} {rest[3:5]} {rest[5:]}",
            f"0{prefix} {rest[:3]} {rest[3:5]} {rest[5:]}",
            f"0{prefix}-{rest[:2]} {rest[2:4]} {rest[4:]}",
            f"0{prefix} - {rest[:3]} {rest[3:5]} {rest[5:]}",
            f"0{prefix} \u2013 {rest}",
            f"+46 {prefix} {rest[:3]} {rest[3:5]} {rest[5:]}",
            f"+46{prefix}{rest}",
            f"0046 {prefix}-{rest}",
            f"+46 (0){prefix}-{rest[:3]} {rest[3:5]} {rest[5:]}",
        ]
        return draw(st.sampled_from(national))
    area = draw(st.sampled_from(["8", "11", "13", "18", "31", "40", "90", "250", "910", "23"]))
    rest = draw(st.text("0123456789", min_size=9 - len(area), max_size=9 - len(area)))
    grouped = " ".join(rest[i : i + 2] for i in range(0, len(rest), 2))
    return draw(
        st.sampled_from(
            [
                f"0{area}-{rest}",
                f"0{area}-{grouped}",
                f"0{area} - {grouped}",
                f"0{area} - {rest}",
                f"0{area} {grouped}",
                f"+46 {area} {grouped}",
                f"+46{area}{rest}",
            ]
        )
    )


@settings(max_examples=500, deadline=None)
@given(phone=phone_numbers(), zero=st.sampled_from(list(SCRIPTS.values())))
def test_phone_numbers_are_left_alone(phone: str, zero: str) -> None:
    text = f"Ring mig på {in_script(phone, zero)} efter kl 16."
    assert find_personal_numbers(text) == [], text


@given(number=st.integers(min_value=0, max_value=999_999), at=st.times())
def test_consult_ids_and_clock_times_are_left_alone(number: int, at: time) -> None:
    text = (
        f"Gäller K-{number:06d} kl {at:%H:%M}, {at:%H.%M} eller {at:%H%M}, "
        f"K-{number:06d} - {at:%H%M} och {at:%H:%M} - {at:%H%M}."
    )
    assert find_personal_numbers(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Ring mig på 070-123 45 67 eller 023-49 00 00.",
        "Mobil +46 70 123 45 67, växel 0250-49 30 00.",
        "Mobil 0701234567 eller 0702301235.",  # 30 February: no date
        "Mobil 0701231235",  # 2007-01-23 with a valid check digit: still a phone number
        "Telefon 08-123 456 78",
        "Besök 2026-11-26 kl 14:30, återbesök 26/11 2026.",
        "Besök 2026-12-05, 20261205 eller 261205 kl 14.30.",
        "Hb 123 g/l, CRP 45, LPK 12,3, kreatinin 89 µmol/l, INR 2,3, TSH 1,25.",
        "Blodtryck 145/90, puls 88, saturation 96 %, vikt 72,5 kg.",
        "Gäller konsult K-000123 och K-001234.",
        "Remiss 2026-123456 skickad.",
        "ICD I48.9, KVÅ DT016, ordination 2 x 5 mg.",
        "Pat 121212-1213 har fel kontrollsiffra.",
        "Pat 851399-1234 har inget giltigt datum.",
        "Pat 19850000-1234 har månad och dag 00 utan samordning.",
        "Pat 121212  1212: två mellanslag och inget bindestreck.",
        "Pat 121212 -\n1212: två rader är två tal, också efter ett bindestreck.",
        "Ledig 2026-12-05 - 2026-12-06, 20261205 - 20261206 och 261205 – 261206.",
        "Mottagning 12:00 - 1300, kl 1200 - 1300, 12.00 – 13.00.",
        "Besök 20261205 - 1430 eller 261205 – 1430.",
        "Ring 070 - 123 45 67, 070 – 1234567 eller 08 - 123 456 78.",
        "Växel 0250 - 49 30 00, 031 - 123456.",
        "Gäller konsult K-000123 - K-001234 och K-121212 - 1212.",
        "Dos 500 - 1000 mg, 1 - 2 tabletter, Hb 121 - 135.",
        "Pat 121212\n1212: två rader är två tal.",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert find_personal_numbers(text) == []
    assert not contains_personal_number(text)


def test_the_mobile_number_rule_is_only_for_ten_bare_digits() -> None:
    yymmdd, four = number_parts(date(2007, 1, 23), 123)
    assert find_personal_numbers(f"Mobil {yymmdd}{four}") == []  # read as a phone number
    assert find_personal_numbers(f"Pat {yymmdd}-{four}") == [f"{yymmdd}-{four}"]
    assert find_personal_numbers(f"Pat 20{yymmdd}{four}") == [f"20{yymmdd}{four}"]
