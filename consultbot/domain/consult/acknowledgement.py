"""Which reactions acknowledge a page.

A reaction acknowledges when its key, normalised, is one of `ACK_REACTIONS`: skin tones and
emoji/text variation selectors do not matter (👍🏽 counts like 👍, ✔️ like ✔). Whether the
person reacting was paged, and whether the consult is still waiting for an answer, is the
escalation's rule (`escalation.step` with `AckBy`), not this module's.
"""

from __future__ import annotations

import unicodedata

ACK_REACTIONS = frozenset({"✅", "👍", "✔", "☑", "👌"})


def normalise_reaction(key: str) -> str:
    """Drop variation selectors and skin tones, so 👍🏽 and ✔️ count like 👍 and ✔."""
    return "".join(
        ch
        for ch in unicodedata.normalize("NFC", key)
        if ch not in "\ufe0e\ufe0f" and not 0x1F3FB <= ord(ch) <= 0x1F3FF
    )


def acknowledges(key: str) -> bool:
    """True when a reaction with this key counts as an acknowledgement."""
    return normalise_reaction(key) in ACK_REACTIONS
