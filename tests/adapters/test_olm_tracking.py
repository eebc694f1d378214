"""Whom nio may count as tracked once the bot prepares pages (adapters/matrix/olm_ready.py).

The homeserver tells the bot of device changes only for people it shares a room with; anyone
else must not stay tracked, or a page's room would not make nio ask for their devices again
(a phone logged in meanwhile would miss the page's key). A room the bot was put out of stays
in nio's rooms, members and all, until it is forgotten: its members are strangers too.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nio import MatrixRoom

from consultbot.adapters.matrix.olm_ready import untrack_strangers
from consultbot.adapters.matrix.rooms import RoomBook

BOT = "@bot:x"


def room(room_id: str, *users: str) -> MatrixRoom:
    found = MatrixRoom(room_id, BOT)
    found.encrypted = True
    for user in (BOT, *users):
        found.add_member(user, None, None)
    return found


def sync(*, join: tuple[str, ...] = (), leave: tuple[str, ...] = ()) -> Any:
    joined = {r: SimpleNamespace(state=[], timeline=SimpleNamespace(events=[])) for r in join}
    return SimpleNamespace(rooms=SimpleNamespace(join=joined, leave=dict.fromkeys(leave)))


def test_only_members_of_rooms_the_bot_is_still_in_stay_tracked() -> None:
    rooms = {"!dm": room("!dm", "@doctor:x"), "!consult": room("!consult", "@jour:x")}
    olm = SimpleNamespace(tracked_users={BOT, "@doctor:x", "@jour:x", "@gone:x"})
    session: Any = SimpleNamespace(nio=SimpleNamespace(rooms=rooms, olm=olm, user_id=BOT))
    book = RoomBook(session)

    untrack_strangers(session.nio, book)
    assert olm.tracked_users == {BOT, "@doctor:x", "@jour:x"}  # nobody shares a room with @gone

    book.learn(sync(leave=("!consult",)))  # the bot was put out of the consult room
    untrack_strangers(session.nio, book)
    assert olm.tracked_users == {BOT, "@doctor:x"}

    olm.tracked_users.add("@jour:x")
    book.learn(sync(join=("!consult",)))  # and let in again
    untrack_strangers(session.nio, book)
    assert olm.tracked_users == {BOT, "@doctor:x", "@jour:x"}


def test_a_forgotten_room_is_not_remembered_as_left() -> None:
    rooms = {"!consult": room("!consult", "@jour:x")}
    olm = SimpleNamespace(tracked_users={BOT})
    session: Any = SimpleNamespace(nio=SimpleNamespace(rooms=rooms, olm=olm, user_id=BOT))
    book = RoomBook(session)
    book.learn(sync(leave=("!consult", "!never-known")))
    untrack_strangers(session.nio, book)
    assert book.left == {"!consult"}
    del rooms["!consult"]  # forgotten: out of nio's rooms too
    untrack_strangers(session.nio, book)
    assert book.left == set()
