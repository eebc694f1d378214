"""Every message exists in Swedish and English, and every problem code the domain emits has text."""

from __future__ import annotations

import re
from pathlib import Path

import consultbot
from consultbot.domain.errors import Problem
from consultbot.text.render import Messages, keys

SOURCE = Path(consultbot.__file__).parent
CODE = re.compile(r"""code="([a-z_0-9]+)"|\("([a-z_0-9]+)", \{|bad\("([a-z_0-9]+)\"""")


def emitted_codes() -> set[str]:
    found: set[str] = set()
    for path in (SOURCE / "domain").rglob("*.py"):
        for match in CODE.finditer(path.read_text(encoding="utf-8")):
            found.update(g for g in match.groups() if g)
    return found


def test_both_languages_have_the_same_keys() -> None:
    assert keys("sv") == keys("en")


def test_every_problem_code_has_a_message() -> None:
    codes = emitted_codes()
    assert len(codes) > 20  # the regex still finds the codes
    assert codes - keys("sv")["problem"] == set()


def test_problem_renders_file_line_and_swedish_reason() -> None:
    problem = Problem(
        file="schema.csv", line=7, code="unknown_service", params={"service": "hjärt"}
    )
    assert Messages("sv").problem(problem) == (
        "schema.csv:7: okänd tjänst hjärt (finns inte i katalogen)"
    )
    assert Messages("en").problem(problem).startswith("schema.csv:7: unknown service hjärt")


def test_every_chat_template_exists_in_both_languages() -> None:
    from consultbot.resources import templates_dir

    chat = templates_dir() / "chat"
    sv = {p.name for p in (chat / "sv").glob("*.j2")}
    en = {p.name for p in (chat / "en").glob("*.j2")}
    assert len(sv) > 30 and sv == en
    assert not list(chat.glob("*.j2")), "a chat template outside sv/ and en/"


def test_a_chat_message_is_in_one_language() -> None:
    from zoneinfo import ZoneInfo

    from consultbot.text.render import ChatRenderer

    chat = ChatRenderer(ZoneInfo("Europe/Stockholm"), "sv")
    swedish = chat.render("pnr_redacted").text
    english = chat.render("pnr_redacted", language="en").text
    assert "personnummer" in swedish and "identity number" not in swedish
    assert "identity number" in english and "personnummer" not in english
    assert chat.render(
        "queued", c={"id": "K-000001"}, opens_at="2026-12-01T07:00:00+00:00"
    ).text.endswith("2026-12-01 kl. 08:00.")
    assert (
        "2026-12-01 at 08:00"
        in chat.render(
            "queued", language="en", c={"id": "K-000001"}, opens_at="2026-12-01T07:00:00+00:00"
        ).text
    )


def test_echoed_text_is_one_short_line_without_a_mention() -> None:
    from consultbot.text.render import ECHO_LIMIT, echo

    assert echo("kardio") == "kardio"
    assert echo("a\nb\tc\u202e  d") == "a b c d"  # no line breaks, no direction override
    long = echo("y" * 500)
    assert len(long) == ECHO_LIMIT and long.endswith("…")
    assert "@" not in echo("@room and @admin:localhost")
    assert echo("@room") == "＠room"  # still readable
