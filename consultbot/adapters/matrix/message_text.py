"""What an `m.room.message` shows people, as plain text: for the personnummer guard.

A client shows more than `body`: the HTML `formatted_body` (which may differ from the body),
the quoted lines of a reply (`> ` fallback lines in the body, `<mx-reply>` in the HTML), an
edit's `m.new_content` (which replaces what the original showed), a file's name and caption.
Every one of them is returned, HTML read as its visible text. Nothing here is parsed as a
command: `is_chat` says which messages the bot reads as chat at all.

Other events show text too (`event_texts`): a sticker's body, the question and answers of a
poll someone starts, and a message the Matrix library could not parse (a `formatted_body`
without `body`, which clients still show).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from consultbot.domain.chat.personal_numbers import html_text
from consultbot.domain.consult.polls import POLL_START_TYPES

_TEXT_FIELDS = ("body", "filename")
_SHOWN_AS_MESSAGE = frozenset({"m.room.message", "m.sticker"})
# Extensible events (MSC1767): a text as one string (unstable), or as a list of
# representations `{"body", "mimetype"}` (stable `m.text`; Element's `…msc1767.message`).
_EXTENSIBLE_TEXT = "org.matrix.msc1767.text"
_EXTENSIBLE_LISTS = ("m.text", "org.matrix.msc1767.message")
_POLL_KEYS = ("org.matrix.msc3381.poll.start", "m.poll")


def _texts_of(content: Mapping[str, Any]) -> Iterator[str]:
    for field in _TEXT_FIELDS:
        value = content.get(field)
        if isinstance(value, str) and value:
            yield value
    formatted = content.get("formatted_body")
    if isinstance(formatted, str) and formatted:
        yield html_text(formatted)


def shown_texts(content: Mapping[str, Any]) -> tuple[str, ...]:
    """Every text of a message's content people can see, HTML as its text, an edit's new
    content included (the whole body, a reply's quoted lines included)."""
    texts = list(_texts_of(content))
    new = content.get("m.new_content")
    if isinstance(new, Mapping):
        texts.extend(_texts_of(new))
    return tuple(texts)


def is_chat(content: Mapping[str, Any]) -> bool:
    """True for a message the bot reads as chat (a command or an answer): a plain `m.text`
    that is not an edit (`m.relates_to.rel_type` `m.replace`). Notices, emotes, media and
    edits are only read for personnummer."""
    relates = content.get("m.relates_to")
    edit = isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace"
    return content.get("msgtype") == "m.text" and not edit


def _extensible_texts(holder: Any) -> Iterator[str]:
    if not isinstance(holder, Mapping):
        return
    yield from _texts_of(holder)
    text = holder.get(_EXTENSIBLE_TEXT)
    if isinstance(text, str) and text:
        yield text
    for key in _EXTENSIBLE_LISTS:
        representations = holder.get(key)
        if not isinstance(representations, list):
            continue
        for representation in representations:
            body = representation.get("body") if isinstance(representation, Mapping) else None
            if isinstance(body, str) and body:
                is_html = representation.get("mimetype") == "text/html"
                yield html_text(body) if is_html else body


def poll_texts(content: Mapping[str, Any]) -> tuple[str, ...]:
    """Every text a poll start shows: its question, its answers and its text fallback, in the
    unstable (Element) and the stable shape."""
    texts = list(_extensible_texts(content))
    for key in _POLL_KEYS:
        poll = content.get(key)
        if not isinstance(poll, Mapping):
            continue
        texts.extend(_extensible_texts(poll.get("question")))
        answers = poll.get("answers")
        for answer in answers if isinstance(answers, list) else ():
            texts.extend(_extensible_texts(answer))
    return tuple(texts)


def event_texts(event_type: str, content: Mapping[str, Any]) -> tuple[str, ...]:
    """What an event that is no readable message shows people: a message the Matrix library
    could not parse (`formatted_body` without `body`), a sticker, a poll someone starts.
    () for an event of any other type. Read for personnummer only, never as chat."""
    if event_type in _SHOWN_AS_MESSAGE:
        return shown_texts(content)
    if event_type in POLL_START_TYPES:
        return poll_texts(content)
    return ()
