"""iCalendar content lines are unfolded a line at a time, exactly as icalendar's own reader
unfolds them (that reader runs regular expressions over the whole file in one step, which
holds the event loop while a 5 MiB upload is read)."""

from __future__ import annotations

import itertools

import pytest
from icalendar.parser import Contentlines

from consultbot.domain.duty.ical import content_lines

FOLDS = [
    "",
    "A:1",
    "A:1\r\nB:2\r\n",
    "A:1\r\n 2\r\nB:3",  # CRLF fold
    "A:1\n\t2\nB:3\n",  # LF and tab
    "A:1\r\n\r\n\n 2",  # empty lines between a break and its fold
    "\r\n A",  # a fold at the very start
    "\n A",
    "A\r\r\n B\n",  # a CR before the CRLF stays
    "A\n\r\n B",  # a break right after a break does not fold
    "A\r",  # a lone CR at the end stays
    "A:1\r\n \r\n 2\r\n",  # a continuation that is only the space
]


@pytest.mark.parametrize("text", FOLDS)
def test_lines_are_unfolded_as_icalendar_does(text: str) -> None:
    assert list(content_lines(text)) == list(Contentlines.from_ical(text))


def test_every_short_mix_of_breaks_spaces_and_text_unfolds_as_icalendar_does() -> None:
    pieces = ["\r", "\n", " ", "\t", "A", "\r\n"]
    for length in range(6):
        for combination in itertools.product(pieces, repeat=length):
            text = "".join(combination)
            assert list(content_lines(text)) == list(Contentlines.from_ical(text)), repr(text)
