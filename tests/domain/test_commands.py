"""Chat commands, outcomes and personnummer detection."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, datetime, time

import pytest
from hypothesis import assume, given, strategies as st

from consultbot.domain.chat.commands import (
    ALIASES,
    COMMAND_NAMES,
    MAX_BODY_LENGTH,
    Accept,
    Acknowledge,
    Activate,
    Ask,
    Call,
    Cancel,
    Close,
    Command,
    Conference,
    Contact,
    Decline,
    HandOver,
    Help,
    Invalid,
    Meeting,
    Outcome,
    PassOn,
    Queue,
    Reason,
    ShowRoutine,
    Stats,
    Status,
    Who,
    canonical_name,
    parse_command,
    parse_outcome,
)
from consultbot.domain.chat.personal_numbers import contains_personal_number, find_personal_numbers
from consultbot.domain.types import Dataset, Track

# ---------------------------------------------------------------------------------------------
# Outcomes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("råd", Outcome.ADVICE),
        ("RÅD", Outcome.ADVICE),
        ("ra\u030ad", Outcome.ADVICE),  # decomposed å, as some clients send it
        ("rad", Outcome.ADVICE),
        ("Advice", Outcome.ADVICE),
        ("remiss", Outcome.REFERRAL),
        ("referral", Outcome.REFERRAL),
        ("inläggning", Outcome.ADMISSION),
        ("inlaggning", Outcome.ADMISSION),
        ("inlagd", Outcome.ADMISSION),
        ("admission", Outcome.ADMISSION),
        ("akuten", Outcome.ED),
        ("akutmottagningen", Outcome.ED),
        ("ED", Outcome.ED),
        ("besök", Outcome.VISIT),
        ("besok", Outcome.VISIT),
        ("visit", Outcome.VISIT),
        ("annat", Outcome.OTHER),
        ("other", Outcome.OTHER),
        ("  remiss.  ", Outcome.REFERRAL),
        ("\t(besök)!\n", Outcome.VISIT),
        ('"Annat"', Outcome.OTHER),
    ],
)
def test_parse_outcome(text: str, expected: Outcome) -> None:
    assert parse_outcome(text) is expected


@pytest.mark.parametrize(
    "text",
    ["okänt", "okant", "unknown", "", "  ", "...", "remiss undviken", "råd remiss", "r å d", "x"],
)
def test_parse_outcome_rejects(text: str) -> None:
    assert parse_outcome(text) is None


# ---------------------------------------------------------------------------------------------
# Commands: recognising a command at all


@pytest.mark.parametrize(
    "body",
    ["", "   ", "hej", "kardiologi !konsult x", "!", "!!!", "! hej", "!123", "!-foo", "?status"],
)
def test_not_a_command(body: str) -> None:
    assert parse_command(body) is None


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("konsult", "konsult"),
        ("consult", "konsult"),
        ("akut", "akut"),
        ("acute", "akut"),
        ("vc", "vc"),
        ("pc", "vc"),
        ("mdk", "mdk"),
        ("mdt", "mdk"),
        ("vem", "vem"),
        ("who", "vem"),
        ("rutin", "rutin"),
        ("routine", "rutin"),
        ("kontakt", "kontakt"),
        ("contact", "kontakt"),
        ("kvittera", "kvittera"),
        ("ack", "kvittera"),
        ("vidare", "vidare"),
        ("pass", "vidare"),
        ("avsluta", "avsluta"),
        ("close", "avsluta"),
        ("ring", "ring"),
        ("call", "ring"),
        ("status", "status"),
        ("hjälp", "hjälp"),
        ("hjalp", "hjälp"),
        ("help", "hjälp"),
        ("statistik", "statistik"),
        ("stats", "statistik"),
        ("aktivera", "aktivera"),
        ("activate", "aktivera"),
        ("avbryt", "avbryt"),
        ("cancel", "avbryt"),
        ("kö", "kö"),
        ("ko", "kö"),
        ("queue", "kö"),
        ("möte", "möte"),
        ("mote", "möte"),
        ("meeting", "möte"),
        ("lämna", "lämna"),
        ("lamna", "lämna"),
        ("handover", "lämna"),
        ("acceptera", "acceptera"),
        ("accept", "acceptera"),
        ("avböj", "avböj"),
        ("decline", "avböj"),
    ],
)
def test_every_spelling(spelling: str, canonical: str) -> None:
    assert ALIASES[spelling] == canonical
    assert canonical_name(spelling.upper()) == canonical
    assert canonical_name("!" + spelling) == canonical


def test_aliases_cover_exactly_the_canonical_names() -> None:
    assert set(ALIASES.values()) == set(COMMAND_NAMES)
    assert len(COMMAND_NAMES) == 23
    assert canonical_name("nope") is None


def test_every_english_spelling_is_an_alias_and_answers_in_english() -> None:
    from consultbot.domain.chat.commands import ENGLISH_SPELLINGS, written_in_english

    assert set(ALIASES) >= ENGLISH_SPELLINGS
    assert written_in_english("!Consult kardiologi fråga") and written_in_english("!who")
    assert not written_in_english("!konsult kardiologi fråga") and not written_in_english("!status")
    assert not written_in_english("hello")


@pytest.mark.parametrize(
    ("body", "dataset"),
    [
        ("!återställ schema", Dataset.ROSTER),
        ("!aterstall Katalog", Dataset.CATALOGUE),
        ("!rollback staff", Dataset.STAFF),
        ("!återställ kontakter.", Dataset.DIRECTORY),
    ],
)
def test_rollback_names_its_data_set(body: str, dataset: Dataset) -> None:
    from consultbot.domain.chat.commands import Rollback

    assert parse_command(body) == Rollback(dataset=dataset)


@pytest.mark.parametrize("body", ["!återställ", "!återställ tårta", "!rollback roster staff"])
def test_rollback_without_a_known_data_set_says_which_exist(body: str) -> None:
    assert parse_command(body) == Invalid(command="återställ", reason=Reason.UNKNOWN_DATASET)


# ---------------------------------------------------------------------------------------------
# Commands: parsing


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "!konsult kardiologi 72-årig kvinna med nytt förmaksflimmer",
            Ask(
                track=Track.HALVAKUT,
                service="kardiologi",
                text="72-årig kvinna med nytt förmaksflimmer",
            ),
        ),
        (
            "  !Consult   kardiologi\n\n  Rad ett\nRad två  \n",
            Ask(track=Track.HALVAKUT, service="kardiologi", text="Rad ett\nRad två"),
        ),
        (
            "!konsult\nkardiologi\nfråga",
            Ask(track=Track.HALVAKUT, service="kardiologi", text="fråga"),
        ),
        (
            "!konsult Kardiologi: fråga",
            Ask(track=Track.HALVAKUT, service="Kardiologi", text="fråga"),
        ),
        (
            "!AKUT ortopedi höftfraktur",
            Ask(track=Track.AKUT, service="ortopedi", text="höftfraktur"),
        ),
        ("!acute ortopedi x", Ask(track=Track.AKUT, service="ortopedi", text="x")),
        ("!vc Mora fråga", Ask(track=Track.PRIMARVARD, service="Mora", text="fråga")),
        ("!pc mora q", Ask(track=Track.PRIMARVARD, service="mora", text="q")),
        (
            "!mdk kirurgi,onkologi Tumörkonferens\nrad 2",
            Conference(services=("kirurgi", "onkologi"), text="Tumörkonferens\nrad 2"),
        ),
        (
            "!mdt kirurgi , onkologi,  radiologi fråga",
            Conference(services=("kirurgi", "onkologi", "radiologi"), text="fråga"),
        ),
        (
            "!mdk kirurgi,Kirurgi,onkologi q",
            Conference(services=("kirurgi", "onkologi"), text="q"),
        ),
        (
            "!mdk kirurgi,onkologi,\nq",
            Conference(services=("kirurgi", "onkologi"), text="q"),
        ),
        (
            "!mdk kirurgi,onkologi\nradiologi, fråga",
            Conference(services=("kirurgi", "onkologi"), text="radiologi, fråga"),
        ),
        ("!vem kardiologi", Who(service="kardiologi")),
        ("!vem", Who(service="")),
        ("!who  akut   kirurgi ", Who(service="akut kirurgi")),
        ("!kontakt  ambulans  Mora ", Contact(query="ambulans Mora")),
        ("!contact lab", Contact(query="lab")),
        ("!kvittera", Acknowledge()),
        ("!KVITTERA tar den", Acknowledge()),
        ("!ack", Acknowledge()),
        ("!kvittera.", Acknowledge()),
        ("!vidare", PassOn()),
        ("!pass", PassOn()),
        ("!avsluta råd", Close(outcome=Outcome.ADVICE)),
        ("!close Remiss.", Close(outcome=Outcome.REFERRAL)),
        ("!avsluta inlaggning", Close(outcome=Outcome.ADMISSION)),
        ("!avsluta akuten", Close(outcome=Outcome.ED)),
        ("!avsluta besök", Close(outcome=Outcome.VISIT)),
        ("!avsluta annat", Close(outcome=Outcome.OTHER)),
        ("!ring", Call()),
        ("!call", Call()),
        ("!rutin kardiologi", ShowRoutine(service="kardiologi")),
        ("!Routine  Kardiologi, Falu  lasarett:", ShowRoutine(service="Kardiologi, Falu lasarett")),
        ("!rutin", ShowRoutine(service="")),
        ("!status", Status()),
        ("!Status?", Status()),
        ("!hjälp", Help()),
        ("!hjalp", Help()),
        ("!help", Help()),
        ("!hjälp konsult", Help(topic="konsult")),
        ("!help !close", Help(topic="avsluta")),
        ("!hjälp Roster", Help(topic="roster")),
        ("!statistik", Stats(month=None)),
        ("!stats 2026-03", Stats(month="2026-03")),
        ("!statistik  2025-12 ", Stats(month="2025-12")),
        ("!aktivera", Activate()),
        ("!activate", Activate()),
        ("!aktivera ändå", Activate(anyway=True)),
        ("!Activate Anyway!", Activate(anyway=True)),
        ("!aktivera nu", Activate()),
        ("!avbryt", Cancel()),
        ("!cancel", Cancel()),
        ("!kö", Queue()),
        ("!KÖ", Queue()),
        ("!ko", Queue()),
        ("!queue", Queue()),
        ("!k\u006f\u0308", Queue()),  # decomposed ö
    ],
)
def test_parse_command(body: str, expected: Command) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    ("body", "command", "reason"),
    [
        ("!konsult", "konsult", Reason.MISSING_SERVICE),
        ("!konsult   ", "konsult", Reason.MISSING_SERVICE),
        ("!konsult kardiologi", "konsult", Reason.MISSING_TEXT),
        ("!konsult kardiologi \n ", "konsult", Reason.MISSING_TEXT),
        ("!akut", "akut", Reason.MISSING_SERVICE),
        ("!vc mora", "vc", Reason.MISSING_TEXT),
        ("!mdk", "mdk", Reason.MISSING_SERVICE),
        ("!mdk kirurgi fråga", "mdk", Reason.TOO_FEW_SERVICES),
        ("!mdk kirurgi,KIRURGI fråga", "mdk", Reason.TOO_FEW_SERVICES),
        ("!mdk kirurgi,onkologi", "mdk", Reason.MISSING_TEXT),
        ("!mdk kirurgi, onkologi, q", "mdk", Reason.MISSING_TEXT),  # "q" reads as a service
        ("!mdk ,,, q", "mdk", Reason.MISSING_SERVICE),
        ("!kontakt", "kontakt", Reason.MISSING_QUERY),
        ("!avsluta", "avsluta", Reason.MISSING_OUTCOME),
        ("!avsluta okänt", "avsluta", Reason.UNKNOWN_OUTCOME),
        ("!avsluta unknown", "avsluta", Reason.UNKNOWN_OUTCOME),
        ("!avsluta remiss undviken", "avsluta", Reason.UNKNOWN_OUTCOME),
        ("!avsluta klart", "avsluta", Reason.UNKNOWN_OUTCOME),
        ("!statistik mars", "statistik", Reason.BAD_MONTH),
        ("!statistik 2026-13", "statistik", Reason.BAD_MONTH),
        ("!statistik 2026-00", "statistik", Reason.BAD_MONTH),
        ("!statistik 2026-3", "statistik", Reason.BAD_MONTH),
        ("!statistik 26-03", "statistik", Reason.BAD_MONTH),
        ("!statistik 2026-03 2026-04", "statistik", Reason.BAD_MONTH),
        ("!statistik 2026-03-01", "statistik", Reason.BAD_MONTH),
        ("!foo", "foo", Reason.UNKNOWN_COMMAND),
        ("!Konsultera kardiologi x", "konsultera", Reason.UNKNOWN_COMMAND),
        ("!" + "x" * 100, "x" * 32, Reason.UNKNOWN_COMMAND),
    ],
)
def test_parse_command_invalid(body: str, command: str, reason: Reason) -> None:
    assert parse_command(body) == Invalid(command=command, reason=reason)


def test_too_long() -> None:
    head = "!konsult kardiologi "
    fits = head + "x" * (MAX_BODY_LENGTH - len(head))
    assert isinstance(parse_command(fits), Ask)
    assert parse_command(fits + "x") == Invalid(command="konsult", reason=Reason.TEXT_TOO_LONG)
    assert parse_command("hej " * MAX_BODY_LENGTH) is None


def test_reasons_are_plain_codes() -> None:
    assert Reason("text_too_long") is Reason.TEXT_TOO_LONG
    assert {str(r) for r in Reason} >= {
        "missing_service",
        "missing_text",
        "unknown_outcome",
        "bad_month",
        "too_few_services",
        "unknown_command",
        "text_too_long",
    }


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (Ask(track=Track.HALVAKUT, service="s", text="t"), "konsult"),
        (Ask(track=Track.AKUT, service="s", text="t"), "akut"),
        (Ask(track=Track.PRIMARVARD, service="s", text="t"), "vc"),
        (Conference(services=("a", "b"), text="t"), "mdk"),
        (Who(service="s"), "vem"),
        (Contact(query="q"), "kontakt"),
        (Acknowledge(), "kvittera"),
        (PassOn(), "vidare"),
        (Close(outcome=Outcome.ADVICE), "avsluta"),
        (Call(), "ring"),
        (Status(), "status"),
        (Help(), "hjälp"),
        (Stats(month=None), "statistik"),
        (Activate(), "aktivera"),
        (Cancel(), "avbryt"),
        (Queue(), "kö"),
        (Invalid(command="konsult", reason=Reason.MISSING_TEXT), "invalid"),
    ],
)
def test_name_is_canonical_and_never_the_text(command: Command, name: str) -> None:
    assert command.name == name
    assert name in COMMAND_NAMES or name == "invalid"


def test_commands_are_frozen_and_keyword_only() -> None:
    ask = Ask(track=Track.AKUT, service="s", text="t")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ask.text = "u"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Ask(Track.AKUT, "s", "t")  # type: ignore[call-arg]


@given(st.text(max_size=300))
def test_parse_command_never_raises(body: str) -> None:
    parse_command(body)


@given(st.sampled_from(sorted(ALIASES)), st.text(max_size=200))
def test_every_known_command_parses_to_something(spelling: str, rest: str) -> None:
    result = parse_command(f"!{spelling} {rest}")
    assert result is not None
    assert result.name in (ALIASES[spelling], "invalid")


# ---------------------------------------------------------------------------------------------
# Personal identity numbers
#
# The check digit is computed here independently of the module under test.


def check_digit(nine: str) -> str:
    """Luhn check digit of YYMMDDNNN, written differently from the module on purpose."""
    doubled = "".join(str(int(d) * (1 + (i + 1) % 2)) for i, d in enumerate(nine))
    return str(-sum(map(int, doubled)) % 10)


def personal_number(born: date, serial: int, *, coordination: bool = False) -> str:
    """The 10-digit form YYMMDDNNNC."""
    day = born.day + (60 if coordination else 0)
    nine = f"{born:%y%m}{day:02d}{serial:03d}"
    return nine + check_digit(nine)


def with_wrong_check(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def test_check_digit_helper_against_published_examples() -> None:
    # Skatteverket's well-known test number 121212-1212 and a samordningsnummer example
    assert personal_number(date(1912, 12, 12), 121) == "1212121212"
    assert check_digit("811218987") == "6"
    assert personal_number(date(1980, 5, 5), 123, coordination=True) == "8005651230"


@pytest.mark.parametrize(
    "number",
    [
        "121212-1212",
        "19121212-1212",
        "191212121212",
        "1212121212",
        "121212+1212",
        "121212 1212",
        "19121212 1212",
        "811218-9876",
        "19811218-9876",
        "800565-1230",  # samordningsnummer, born 1980-05-05
        "19800565-1230",
        "000229-" + personal_number(date(2000, 2, 29), 456)[6:],  # leap day, valid in 2000
        "20000229" + personal_number(date(2000, 2, 29), 456)[6:],
        # Skatteverket writes an unknown birth day as 00, so a samordningsnummer's day is 60
        "800560-" + "123" + check_digit("800560123"),
    ],
)
def test_finds_valid_numbers(number: str) -> None:
    for text in (number, f"Pat {number}, 72 år", f"({number})", f"pnr:{number}\nmer"):
        assert find_personal_numbers(text) == [number]
        assert contains_personal_number(text)


def test_letters_next_to_a_number_do_not_hide_it() -> None:
    assert find_personal_numbers("K-1212121212x") == ["1212121212"]
    assert find_personal_numbers("pnr121212-1212.") == ["121212-1212"]


def test_finds_several() -> None:
    text = "121212-1212 och 811218-9876 samt 19800565-1230"
    assert find_personal_numbers(text) == ["121212-1212", "811218-9876", "19800565-1230"]


@pytest.mark.parametrize(
    "text",
    [
        "121212-1213",  # wrong check digit
        "19121212-1213",
        "811218-9877",
        "070-123 45 67",  # phone numbers
        "023-49 00 00",
        "+46 70 123 45 67",
        "2026-11-23",  # a date
        "2026-11-23 12:00",
        "K-000123",  # a consult number
        "11121212121212",  # valid number inside a longer digit run
        "91212121212",
        "12121212121",
        "121212-12121",
        "9121212-1212",
        "121312-121" + check_digit("121312121"),  # month 13
        "121232-121" + check_digit("121232121"),  # 32 December
        "18121212-1212",  # century must be 19 or 20
        "010229-" + "123" + check_digit("010229123"),  # 29 Feb 1901 and 2001 do not exist
        "19000229-" + "123" + check_digit("000229123"),  # 1900 was not a leap year
        "800592-" + "123" + check_digit("800592123"),  # coordination day 32
        "121212--1212",
        "",
    ],
)
def test_does_not_find(text: str) -> None:
    assert find_personal_numbers(text) == []
    assert not contains_personal_number(text)


_NON_DIGITS = st.text(
    alphabet=st.characters(exclude_characters="0123456789", exclude_categories=["Cs"]),
    max_size=40,
).filter(lambda text: not any(c.isdigit() for c in unicodedata.normalize("NFKC", text)))
"""Text with no digit in any script, also after NFKC (superscripts, circled digits …)."""


@st.composite
def written_personal_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
    coordination = draw(st.booleans())
    ten = personal_number(born, draw(st.integers(0, 999)), coordination=coordination)
    separator = draw(st.sampled_from(["-", "+", " ", ""]))
    century = f"{born.year // 100}" if draw(st.booleans()) else ""
    # Ten bare digits starting 07 are a mobile number (see test_personnummer_corpus.py).
    assume(century or separator or not ten.startswith("07"))
    return century + ten[:6] + separator + ten[6:]


@given(st.text(max_size=300))
def test_find_never_raises(text: str) -> None:
    assert contains_personal_number(text) == bool(find_personal_numbers(text))


@given(written_personal_numbers(), _NON_DIGITS, _NON_DIGITS)
def test_embedded_number_is_found(number: str, before: str, after: str) -> None:
    text = before + number + after
    assert find_personal_numbers(text) == [number]
    assert find_personal_numbers(before + with_wrong_check(number) + after) == []


# ---------------------------------------------------------------------------------------------
# !möte


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!möte 2026-11-27 14:30", Meeting(at=datetime(2026, 11, 27, 14, 30))),
        ("!meeting 2026-11-27 9:05", Meeting(at=datetime(2026, 11, 27, 9, 5))),
        ("!MÖTE  2026-02-28 08.00.", Meeting(at=datetime(2026, 2, 28, 8, 0))),
        ("!möte", Invalid(command="möte", reason=Reason.BAD_MEETING_TIME)),
        ("!möte i morgon", Invalid(command="möte", reason=Reason.BAD_MEETING_TIME)),
        ("!möte 2026-02-30 08:00", Invalid(command="möte", reason=Reason.BAD_MEETING_TIME)),
        ("!möte 2026-11-27 24:00", Invalid(command="möte", reason=Reason.BAD_MEETING_TIME)),
        ("!möte 2026-11-27 12:60", Invalid(command="möte", reason=Reason.BAD_MEETING_TIME)),
        ("!möte 0001-01-01 00:00", Invalid(command="möte", reason=Reason.BAD_MEETING_TIME)),
    ],
)
def test_meeting_times(body: str, expected: Command) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!lämna @cilla:localhost", HandOver(users=("@cilla:localhost",))),
        (
            "!handover @cilla:localhost 17:30",
            HandOver(users=("@cilla:localhost",), until=time(17, 30)),
        ),
        ("!lämna Cilla Karlsson 7.05", HandOver(users=(), until=time(7, 5))),
        (
            "!lämna @anna:localhost @cilla:localhost 08:00",
            HandOver(users=("@anna:localhost", "@cilla:localhost"), until=time(8, 0)),
        ),
        ("!lämna @cilla:localhost 25:00", Invalid(command="lämna", reason=Reason.BAD_TIME)),
        ("!acceptera", Accept()),
        ("!ACCEPT", Accept()),
        ("!avböj", Decline()),
        ("!decline", Decline()),
    ],
)
def test_handover_commands(body: str, expected: object) -> None:
    assert parse_command(body) == expected


# ---------------------------------------------------------------------------------------------
# Long, hostile input: parsed to its plain meaning (how long it takes is bench/bench_stall.py's)


def _filled(prefix: str, unit: str) -> str:
    """`prefix` and `unit` repeated up to exactly MAX_BODY_LENGTH characters, or just under."""
    return prefix + unit * ((MAX_BODY_LENGTH - len(prefix)) // len(unit))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_filled("!avsluta ", "."), Invalid(command="avsluta", reason=Reason.MISSING_OUTCOME)),
        (_filled("!avsluta ", ". ,"), Invalid(command="avsluta", reason=Reason.MISSING_OUTCOME)),
        (_filled("!avsluta råd", "!"), Close(outcome=Outcome.ADVICE)),
        (
            "!avsluta x" + "." * (MAX_BODY_LENGTH - 11) + "x",  # was quadratic: [\W_]+$
            Invalid(command="avsluta", reason=Reason.UNKNOWN_OUTCOME),
        ),
        (
            _filled("!avsluta ", "råd "),
            Invalid(command="avsluta", reason=Reason.UNKNOWN_OUTCOME),
        ),
        (_filled("!hjälp ", "!"), Help(topic="")),
        (
            _filled("!återställ ", "."),
            Invalid(command="återställ", reason=Reason.UNKNOWN_DATASET),
        ),
        (_filled("!statistik ", "2026-"), Invalid(command="statistik", reason=Reason.BAD_MONTH)),
        (
            _filled("!möte 2026-12-07 ", " "),
            Invalid(command="möte", reason=Reason.BAD_MEETING_TIME),
        ),
        (_filled("!lämna ", "12:30 "), Invalid(command="lämna", reason=Reason.BAD_TIME)),
        (_filled("!lämna ", "@a:b "), Invalid(command="lämna", reason=Reason.MISSING_USER)),
        (_filled("!lämna ", "@a"), HandOver(users=())),
        (_filled("!mdk ", ","), Invalid(command="mdk", reason=Reason.MISSING_SERVICE)),
        (_filled("!mdk ", "a ,"), Invalid(command="mdk", reason=Reason.TOO_FEW_SERVICES)),
        (_filled("!kontakt ", ". "), Contact(query=_filled("!kontakt ", ". ")[9:].strip())),
        (_filled("!mdk a,b ", "?"), Conference(services=("a", "b"), text="?" * 7991)),
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else None,
)
def test_long_hostile_input_parses(body: str, expected: Command) -> None:
    assert len(body) <= MAX_BODY_LENGTH
    assert parse_command(body) == expected


@pytest.mark.parametrize("name", [*COMMAND_NAMES, "okänt", "consult"])
def test_a_command_over_the_limit_is_refused_unparsed(name: str) -> None:
    body = f"!{name} " + "." * MAX_BODY_LENGTH
    command = parse_command(body)
    assert isinstance(command, Invalid) and command.reason is Reason.TEXT_TOO_LONG
    assert command.command == ALIASES.get(name, name)


@pytest.mark.parametrize(
    ("body", "action", "target", "number"),
    [
        ("!kalender", "list", "", 0),
        ("!kalender lista", "list", "", 0),
        ("!Feed List", "list", "", 0),
        ("!kalender skapa Vårdcentralen Mora", "create", "Vårdcentralen Mora", 0),
        ("!feed create @anna:region.se.", "create", "@anna:region.se", 0),
        ("!kalender ny hjärta", "create", "hjärta", 0),
        ("!kalender återkalla 12", "revoke", "", 12),
        ("!kalender aterkalla #3", "revoke", "", 3),
        ("!feed revoke 7.", "revoke", "", 7),
    ],
)
def test_kalender_names_its_action(body: str, action: str, target: str, number: int) -> None:
    from consultbot.domain.chat.commands import CalendarFeed, FeedAction

    assert parse_command(body) == CalendarFeed(
        action=FeedAction(action), target=target, number=number
    )


@pytest.mark.parametrize(
    "body",
    [
        "!kalender skapa",
        "!kalender lista allt",
        "!kalender återkalla",
        "!kalender återkalla ett",
        "!kalender återkalla 1 2",
        "!kalender återkalla 9999999999999999999",
        "!kalender radera 1",
        "!kalender skapa a b c d e",
    ],
)
def test_kalender_used_wrongly_is_invalid(body: str) -> None:
    assert parse_command(body) == Invalid(command="kalender", reason=Reason.BAD_FEED)
