"""What the personnummer guard reads of each kind of `m.room.message`, as clients send them."""

from __future__ import annotations

from typing import Any

import pytest

from consultbot.adapters.message_text import is_chat, shown_texts
from consultbot.domain.personal_numbers import contains_personal_number

PNR = "19121212-1212"

# (what the message is, its content as Element and other clients send it, read as chat)
MESSAGES: list[tuple[str, dict[str, Any], bool]] = [
    ("m.text", {"msgtype": "m.text", "body": f"pat {PNR}"}, True),
    ("m.notice", {"msgtype": "m.notice", "body": f"pat {PNR}"}, False),
    ("m.emote", {"msgtype": "m.emote", "body": f"undersöker {PNR}"}, False),
    (
        "formatted_body alone differs from the body",
        {
            "msgtype": "m.text",
            "body": "pat (se nedan)",
            "format": "org.matrix.custom.html",
            "formatted_body": "pat 19121212<b>&#45;</b>1212",
        },
        True,
    ),
    (
        "an edit: the new content carries it",
        {
            "msgtype": "m.text",
            "body": "* pat",
            "m.new_content": {"msgtype": "m.text", "body": f"pat {PNR}"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
        },
        False,
    ),
    (
        "an edit: only the new content's HTML carries it",
        {
            "msgtype": "m.text",
            "body": "* pat",
            "m.new_content": {
                "msgtype": "m.text",
                "body": "pat",
                "format": "org.matrix.custom.html",
                "formatted_body": "pat <i>1912</i>1212-1212",
            },
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
        },
        False,
    ),
    (
        "a reply: the quoted fallback lines",
        {
            "msgtype": "m.text",
            "body": f"> <@doktor:region.example> pat {PNR}\n\nJag ringer",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$asked"}},
        },
        True,
    ),
    (
        "a reply: the quoted <mx-reply> in the HTML",
        {
            "msgtype": "m.text",
            "body": "Jag ringer",
            "format": "org.matrix.custom.html",
            "formatted_body": f"<mx-reply><blockquote>pat {PNR}</blockquote></mx-reply>Jag ringer",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$asked"}},
        },
        True,
    ),
    (
        "an image's caption",
        {"msgtype": "m.image", "body": f"EKG {PNR}", "filename": "ekg.jpg", "url": "mxc://s/x"},
        False,
    ),
    (
        "a file's name",
        {"msgtype": "m.file", "body": "remiss.pdf", "filename": f"remiss {PNR}.pdf"},
        False,
    ),
    ("an unknown msgtype", {"msgtype": "org.example.note", "body": PNR}, False),
]


@pytest.mark.parametrize(
    ("content", "chat"), [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES]
)
def test_every_kind_of_message_is_read_for_personnummer(
    content: dict[str, Any], chat: bool
) -> None:
    assert any(map(contains_personal_number, shown_texts(content)))
    assert is_chat(content) is chat


def test_a_message_without_one_is_left_alone() -> None:
    content = {
        "msgtype": "m.text",
        "body": "> <@doktor:region.example> ring 070-123 45 67\n\nBesök 2026-12-05 14:30",
        "format": "org.matrix.custom.html",
        "formatted_body": "<mx-reply><blockquote>ring 070-123 45 67</blockquote></mx-reply>"
        "Besök <b>2026-12-05</b> 14:30, K-000123",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$asked"}},
    }
    assert not any(map(contains_personal_number, shown_texts(content)))


def test_fields_that_are_not_text_are_ignored() -> None:
    content = {"msgtype": "m.text", "body": None, "formatted_body": 191212121212}
    assert shown_texts(content) == ()
    assert shown_texts({"msgtype": "m.text", "body": "x", "m.new_content": "191212121212"}) == (
        "x",
    )
