"""The rooms the bot keeps for itself, and whether a room may read what is sent into it.

- A message with staff numbers goes into a room only if, at that moment, the room may read it
  (domain/audience.py); otherwise the asker gets it in their direct chat and the room gets it
  without the numbers (`send_checked`). A room a user opened that is unfit gets nothing: the
  asker is told why once, and a room unfit for good is left and the admins told once (`unfit`).
- The private room with each user and the admin rooms are made once and remembered under a
  bot-state key; one that fails the room policy is left, forgotten and made anew, the admins
  told once (`room_unsafe`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from consultbot.domain.chat import audience
from consultbot.domain.types import UserId
from consultbot.engine.delivery.content import PRIVATE_KEY, admin_key, direct_key, unfit_key
from consultbot.ports import ConsultStore, Content, Messenger, RoomRefused, UnsafeRoom
from consultbot.text.views import ConsultRenderer

log = logging.getLogger(__name__)


@dataclass(kw_only=True, eq=False)
class PrivateRooms:
    """The private and admin rooms, and sends checked against who may read them."""

    store: ConsultStore
    messenger: Messenger
    renderer: ConsultRenderer
    admin_room: str
    admins: Sequence[UserId]
    # The private and admin rooms in use: room → the bot-state key it is remembered under.
    _room_keys: dict[str, str] = field(default_factory=dict, init=False)

    async def send_checked(
        self,
        room: str,
        content: Content,
        *,
        txn: str,
        asker: UserId | None,
        numbers: bool,
        withheld: Callable[[], Awaitable[Content]] | None = None,
    ) -> None:
        """Send `content` to `room` if, at the moment of sending, the room may read it.

        Otherwise (domain/audience.py) it goes to `asker`'s direct chat instead; a room that
        may still have the rest (one the bot made) gets `withheld()`, the same without staff
        numbers; a room a user opened that is unfit gets nothing (`unfit`).
        """
        try:
            await self.messenger.send(room, content, txn=txn, numbers=numbers)
            return
        except RoomRefused as exc:
            refused = exc
        log.info("%s: %s", refused, "to the asker's direct chat" if asker else "not sent")
        if not refused.fit:
            await self.unfit(room, asker, refused.faults, txn)
        if asker is not None:
            direct = await self.direct_room(asker)
            if direct != room:
                await self.messenger.send(
                    direct, content, txn=f"{txn}-dm", recipients=(asker,), numbers=numbers
                )
        if refused.fit and withheld is not None:
            await self.messenger.send(room, await withheld(), txn=f"{txn}-withheld")

    async def unfit(
        self, room: str, asker: UserId | None, faults: Sequence[audience.Fault], txn: str
    ) -> None:
        """A room a user opened that the bot may not answer in: `asker` is told once, in their
        direct chat; a room unfit for good is left and the admins are told once."""
        if audience.lasting(faults) and await self.store.get_meta(unfit_key(room)) is None:
            await self.messenger.leave(room)
            alert = self.renderer.render("admin_room_left", room=room, faults=list(faults))
            await self.to_admins(alert, f"{txn}-admins")
            await self.store.set_meta(unfit_key(room), "left")
        if asker is None or await self.store.get_meta(unfit_key(room, asker)) is not None:
            return
        direct = await self.direct_room(asker)
        if direct != room:
            told = self.renderer.render("room_unfit", room=room, faults=list(faults))
            await self.messenger.send(direct, told, txn=f"{txn}-told", recipients=(asker,))
        await self.store.set_meta(unfit_key(room, asker), "told")

    async def admin_rooms(self) -> list[str]:
        """The admin room, or else a private room with each admin (created once)."""
        if self.admin_room:
            return [self.admin_room]
        rooms = [
            await self._private_room(admin_key(admin), admin, "Konsultbot – admin", "admin_topic")
            for admin in self.admins
        ]
        if not rooms:
            log.warning("an admin alert, but neither admin_room nor admins are configured")
        return rooms

    async def to_admins(self, content: Content, txn: str) -> None:
        """Send `content` to each admin room, as transaction `{txn}-{n}` for the n-th."""
        for n, room in enumerate(await self.admin_rooms()):
            await self.messenger.send(room, content, txn=f"{txn}-{n}")

    async def direct_room(self, user: UserId) -> str:
        """The bot's private room with `user`: duty notices, handovers, private answers (created
        once)."""
        return await self._private_room(direct_key(user), user, "Konsultbot", "direct_topic")

    async def _private_room(self, key: str, user: UserId, name: str, topic: str) -> str:
        """The room remembered under `key`, made with `user` invited if there is none."""
        room = await self.store.get_meta(key)
        if not room:  # none yet, or one forgotten as failing the room policy
            room = await self.messenger.create_room(
                key=key, name=name, topic=self.renderer.render(topic).text, invite=(user,)
            )
            await self.store.set_meta(key, room)
        self.own(room, key)
        return room

    async def own_private_rooms(self) -> int:
        """Hold every private and admin room recorded to the room policy now, not only when
        next used; how many.

        Rooms once taken by their alias (before the bot checked who made a room) may be a
        stranger's: held to the policy, the first thing the bot would send into one (an
        answer too) finds it failing, and it is left and made anew, the admins told once
        (`room_unsafe`); without this it was answered in until the bot next chose it.
        """
        rooms = {
            key: room
            for prefix in ("direct-", "admin-")
            for key, room in (await self.store.meta_under(prefix)).items()
            if PRIVATE_KEY.fullmatch(key) and room
        }
        for key, room in rooms.items():
            self.own(room, key)
        return len(rooms)

    def own(self, room: str, key: str) -> None:
        """A private or admin room the bot made: held to the room policy, forgotten if it
        fails it."""
        self.messenger.own_room(room)
        self._room_keys[room] = key

    async def room_unsafe(self, exc: UnsafeRoom, depth: int = 0) -> bool:
        """A room the bot made fails the room policy: leave it and tell the admins, once.

        True when it was a private or admin room, now forgotten (the next try makes a new one).
        """
        key = self._room_keys.pop(exc.room, None)
        if key is not None:
            await self.store.set_meta(key, "")
        told = f"unsafe-room:{exc.room}"
        if await self.store.get_meta(told) is not None:
            return key is not None
        try:
            await self.messenger.leave(exc.room)
        except Exception:
            log.warning("could not leave the room %s", exc.room)
        consult = await self.store.consult_for_room(exc.room)
        content = self.renderer.render(
            "admin_room_unsafe", room=exc.room, faults=exc.faults, consult=consult or ""
        )
        txn = f"unsafe-{hashlib.sha256(exc.room.encode()).hexdigest()[:16]}"
        await self._tell_admins(content, txn, depth)
        await self.store.set_meta(told, ",".join(exc.faults))
        return key is not None

    async def _tell_admins(self, content: Content, txn: str, depth: int) -> None:
        """Send to the admin rooms; an admin room failing the policy itself is left, the
        admins told in a new one (a room found failing while telling them: two deep at most)."""
        for _ in range(2):
            try:
                await self.to_admins(content, txn)
                return
            except UnsafeRoom as exc:
                if depth >= 2:
                    break
                await self.room_unsafe(exc, depth + 1)
            except Exception:
                break
        log.error("could not tell the admins that a room fails the room policy")
