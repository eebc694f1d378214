"""What the personnummer guard reads of each kind of `m.room.message`, as clients send them."""

from __future__ import annotations

from typing import Any

import pytest

from consultbot.adapters.matrix.message_text import event_texts, is_chat, shown_texts
from consultbot.domain.chat.personal_numbers import contains_personal_number
from consultbot.domain.consult.polls import POLL_OUTCOMES, POLL_START, poll_start

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


UNSTABLE_POLL = "org.matrix.msc3381.poll.start"
TEXT = "org.matrix.msc1767.text"

# (what the event is, its type, its content as clients send it)
OTHER_EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "a message with formatted_body and no body",
        "m.room.message",
        {
            "msgtype": "m.text",
            "format": "org.matrix.custom.html",
            "formatted_body": f"<p>{PNR}</p>",
        },
    ),
    ("a sticker's text", "m.sticker", {"body": f"pat {PNR}", "url": "mxc://s/x", "info": {}}),
    (
        "a poll's question (Element)",
        UNSTABLE_POLL,
        {
            UNSTABLE_POLL: {
                "kind": "org.matrix.msc3381.poll.undisclosed",
                "max_selections": 1,
                "question": {TEXT: f"Vem tar {PNR}?"},
                "answers": [{"id": "a", TEXT: "Jag"}, {"id": "b", TEXT: "Du"}],
            },
            TEXT: "Vem tar patienten?",
        },
    ),
    (
        "a poll's answer (Element)",
        UNSTABLE_POLL,
        {
            UNSTABLE_POLL: {
                "question": {TEXT: "Vilken patient?"},
                "answers": [{"id": "a", TEXT: "121212 – 1212"}, {"id": "b", TEXT: "Ingen"}],
            },
        },
    ),
    (
        "a poll's text fallback only",
        UNSTABLE_POLL,
        {UNSTABLE_POLL: {"question": {TEXT: "Vem?"}, "answers": []}, TEXT: f"Vem? {PNR}"},
    ),
    (
        "a stable poll's answer in HTML",
        "m.poll.start",
        {
            "m.poll": {
                "kind": "m.disclosed",
                "question": {"m.text": [{"body": "Vilken patient?"}]},
                "answers": [
                    {
                        "m.id": "a",
                        "m.text": [{"mimetype": "text/html", "body": "<b>1912</b>1212-1212"}],
                    }
                ],
            },
            "m.text": [{"body": "Vilken patient?"}],
        },
    ),
    (
        "a poll's question as an extensible message (older Element)",
        UNSTABLE_POLL,
        {
            UNSTABLE_POLL: {
                "question": {
                    "org.matrix.msc1767.message": [{"mimetype": "text/plain", "body": PNR}]
                },
                "answers": [],
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("event_type", "content"), [e[1:] for e in OTHER_EVENTS], ids=[e[0] for e in OTHER_EVENTS]
)
def test_every_other_event_that_shows_text_is_read_for_personnummer(
    event_type: str, content: dict[str, Any]
) -> None:
    assert any(map(contains_personal_number, event_texts(event_type, content)))


def test_the_bots_outcome_poll_shows_no_personal_number() -> None:
    question = "Hur gick konsultationen K-000123 (2026-12-05 14:30)?"
    content = poll_start(question, [(o, o.value) for o in POLL_OUTCOMES])
    texts = event_texts(POLL_START, content)
    assert question in texts and "referral" in texts
    assert not any(map(contains_personal_number, texts))


@pytest.mark.parametrize(
    ("event_type", "content"),
    [
        ("m.reaction", {"m.relates_to": {"key": PNR}}),  # a reaction's key: the inbox reads it
        ("m.room.topic", {"topic": PNR}),
        ("m.poll.response", {"m.selections": [PNR]}),
        (UNSTABLE_POLL, {UNSTABLE_POLL: "odd", TEXT: 5, "m.text": [5, {"body": None}]}),
    ],
)
def test_events_that_show_no_message_text_give_none(
    event_type: str, content: dict[str, Any]
) -> None:
    assert event_texts(event_type, content) == ()
