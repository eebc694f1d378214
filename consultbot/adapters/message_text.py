"""What an `m.room.message` shows people, as plain text: for the personnummer guard.

A client shows more than `body`: the HTML `formatted_body` (which may differ from the body),
the quoted lines of a reply (`> ` fallback lines in the body, `<mx-reply>` in the HTML), an
edit's `m.new_content` (which replaces what the original showed), a file's name and caption.
Every one of them is returned, HTML read as its visible text. Nothing here is parsed as a
command: `is_chat` says which messages the bot reads as chat at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from consultbot.domain.personal_numbers import html_text

CHAT_MSGTYPE = "m.text"
_TEXT_FIELDS = ("body", "filename")


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


def is_edit(content: Mapping[str, Any]) -> bool:
    """True for an edit (`m.relates_to.rel_type` `m.replace`) of an earlier message."""
    relates = content.get("m.relates_to")
    return isinstance(relates, Mapping) and relates.get("rel_type") == "m.replace"


def is_chat(content: Mapping[str, Any]) -> bool:
    """True for a message the bot reads as chat (a command or an answer): a plain `m.text`
    that is not an edit. Notices, emotes, media and edits are only read for personnummer."""
    return content.get("msgtype") == CHAT_MSGTYPE and not is_edit(content)
