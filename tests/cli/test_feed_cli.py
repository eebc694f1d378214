"""`consultbot feed create|list|revoke` as an admin uses it: the address shown once, never
stored and never listed; bad input one Swedish line and nothing changed; every change in the
audit trail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consultbot.domain.duty.feeds import token_hash
from tests.cli.conftest import Run

ADDRESS = re.compile(r"https://jour\.example\.se/feed/([A-Za-z0-9_-]{43})\.ics")


@pytest.fixture
def with_web(config_path: Path) -> Path:
    text = config_path.read_text(encoding="utf-8")
    keys = '[web]\nlisten = "127.0.0.1:8080"\npublic_url = "https://jour.example.se/"\n'
    config_path.write_text(text.replace("[web]\n", keys), encoding="utf-8")
    return config_path


def database_bytes(config_path: Path) -> bytes:
    folder = config_path.parent / "data"
    return b"".join(p.read_bytes() for p in sorted(folder.glob("consultbot.db*")))


def test_create_shows_the_address_once_and_the_database_holds_only_its_hash(
    loaded: Run, with_web: Path
) -> None:
    made = loaded("feed", "create", "kardiologi")
    assert made.code == 0 and made.err == ""
    first, address = made.out.splitlines()
    assert first == (
        "Kalender 1 (tjänst kardiologi) är skapad. Adressen visas bara nu – prenumerera på den"
        " i kalenderappen:"
    )
    match = ADDRESS.fullmatch(address)
    assert match is not None
    token = match[1]
    stored = database_bytes(with_web)
    assert token.encode() not in stored and token_hash(token).encode() in stored
    listed = loaded("feed", "list")
    assert listed.code == 0 and token not in listed.out
    assert re.fullmatch(
        r"1  tjänst kardiologi  skapad \d{4}-\d\d-\d\d \d\d:\d\d av cli:\S+\n", listed.out
    )


def test_a_persons_feed_and_revoke_with_the_audit_trail(loaded: Run, with_web: Path) -> None:
    assert loaded("feed", "create", "--person", "@Anna:LOCALHOST").code == 1  # upper localpart
    made = loaded("feed", "create", "--person", "@anna:LOCALHOST")
    assert made.code == 0 and "(person @anna:localhost)" in made.out
    revoked = loaded("feed", "revoke", "1")
    assert revoked.code == 0
    assert revoked.out == (
        "Kalender 1 (person @anna:localhost) är återkallad – adressen svarar inte längre.\n"
    )
    assert loaded("feed", "list").out == "inga kalendrar\n"
    audit = loaded("audit").out.splitlines()[-2:]
    assert audit[0].endswith("kalender skapad  kalender 1: person @anna:localhost")
    assert audit[1].endswith("kalender återkallad  kalender 1: person @anna:localhost")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("nonsense",), "fel: okänd tjänst nonsense – ingen kalender skapad"),
        ((), "fel: ange en tjänst eller --person MATRIX-ID, inte båda"),
        (
            ("kardiologi", "--person", "@anna:localhost"),
            "fel: ange en tjänst eller --person MATRIX-ID, inte båda",
        ),
        (
            ("--person", "anna"),
            "fel: anna är inget Matrix-id som @namn:server – ingen kalender skapad",
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    loaded: Run, with_web: Path, args: tuple[str, ...], line: str
) -> None:
    before = loaded("audit").out
    result = loaded("feed", "create", *args)
    assert (result.code, result.out, result.err) == (1, "", line + "\n")
    assert loaded("feed", "list").out == "inga kalendrar\n"
    assert loaded("audit").out == before


def test_revoking_no_such_feed_is_one_line(loaded: Run) -> None:
    for number in ("7", "0", "99999999999999999999"):
        result = loaded("feed", "revoke", number)
        assert (result.code, result.out) == (1, "")
        assert result.err == (
            f"fel: det finns ingen kalender {number} (eller så är den redan återkallad)\n"
        )


def test_a_service_feed_needs_a_catalogue(run: Run) -> None:
    result = run("feed", "create", "kardiologi")
    assert result.err == (
        "fel: ingen tjänstekatalog är importerad – en kalender per tjänst behöver den\n"
    )


def test_without_a_web_address_the_path_is_shown_with_a_note(loaded: Run) -> None:
    made = loaded("feed", "create", "kardiologi")
    assert made.code == 0
    assert re.fullmatch(r"/feed/[A-Za-z0-9_-]{43}\.ics", made.out.splitlines()[1])
    assert made.err.startswith("obs: [web] listen är inte satt")


def test_list_and_revoke_never_create_a_database(run: Run, config_path: Path) -> None:
    for verb in (("list",), ("revoke", "1")):
        assert run("feed", *verb).code == 1
    assert not (config_path.parent / "data").exists()
