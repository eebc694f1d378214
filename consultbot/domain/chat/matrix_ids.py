"""Matrix user ids as people write them in data files and chat: checked and normalised.

A Matrix id is `@localpart:server`. The server name is case-insensitive (DNS), so
`@anna:Region.SE` and `@anna:region.se` are one person and are stored in the second form.
The localpart of a user id must be lower case (Matrix spec, "historical" ids aside): an
upper-case localpart is refused rather than guessed, because `@Anna` and `@anna` could be
two accounts on a server that allows historical ids.

A roster repeats each id thousands of times: `normalise_matrix_id` is memoised per distinct
text (it is pure), so a data file pays the check once per person.
"""

from __future__ import annotations

import re
from functools import lru_cache

_LOCALPART = re.compile(r"^[a-z0-9._=\-/+]+$")
_SERVER = re.compile(r"^(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
MAX_LENGTH = 255
# Distinct ids remembered; a national roster has about 12,000.
MEMO_SIZE = 65536


@lru_cache(maxsize=MEMO_SIZE)
def normalise_matrix_id(text: str) -> str | None:
    """The canonical form of a user id (server name in lower case), or None when malformed."""
    text = text.strip()
    if not text.startswith("@") or len(text) > MAX_LENGTH or ":" not in text:
        return None
    localpart, server = text[1:].split(":", 1)
    if not _LOCALPART.match(localpart) or not _SERVER.match(server):
        return None
    return f"@{localpart}:{server.lower()}"


def is_matrix_id(text: str) -> bool:
    """True for a well-formed Matrix user id `@localpart:server` (any case of server)."""
    return normalise_matrix_id(text) is not None
