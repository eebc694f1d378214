"""Nothing goes into a room the bot made once it fails the room policy (issue 19): the room is
left, the admins are told once, and a private room is made anew."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from consultbot.domain.types import UserId
from consultbot.engine.delivery.content import direct_key
from consultbot.ports import IncomingMessage
from tests.support.bots import ACK_TIMEOUT, DM, GROUP, OUTSIDER, REQ, Bot, Make, Messenger

ADMIN = UserId("@admin:localhost")


EVENTS = count()


async def say_in_mixed_room(bot: Bot, sender: UserId, body: str) -> None:
    """A line in a room a user opened where someone from another server is invited: answers
    holding staff numbers go to the asker's private room instead (test_private_answers)."""
    bot.messenger.outsiders.add(GROUP)
    await bot.service.inbox.handle_message(
        IncomingMessage(
            room=GROUP,
            event_id=f"$mixed{next(EVENTS)}",
            sender=sender,
            body=body,
            at=bot.clock.now(),
        )
    )
    await bot.flush()


def direct_room_of(bot: Bot, user: UserId) -> str:
    """The private room the bot made for `user` (the only one)."""
    [created] = [s.room for s in bot.messenger.actions("create") if s.users == (user,)]
    return created


def alerts(bot: Bot) -> list[str]:
    """What the admins were told about rooms the bot left."""
    room = direct_room_of(bot, ADMIN)
    return [text for text in bot.messenger.said(room) if "lämnat rummet" in text]


async def test_a_private_room_that_fails_the_policy_is_left_and_made_anew(bot: Bot) -> None:
    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    old = direct_room_of(bot, REQ)
    assert len(bot.messenger.said(old)) == 1
    bot.messenger.unsafe[old] = ("encryption",)  # as if its encryption were gone

    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    assert len(bot.messenger.said(old)) == 1, "nothing more went into the failing room"
    assert [s.room for s in bot.messenger.actions("leave")] == [old]
    [new] = [s.room for s in bot.messenger.actions("create") if s.users == (REQ,) and s.room != old]
    [numbers] = bot.messenger.said(new)
    assert "070-111 11 11" in numbers
    [alert] = alerts(bot)
    assert old in alert and "inte krypterat" in alert

    bot.messenger.unsafe[new] = ("other_admin",)
    await say_in_mixed_room(bot, OUTSIDER, "!vem kardiologi")  # nothing for REQ: no new alert
    assert len(alerts(bot)) == 1


@dataclass
class SquattedConsultRooms(Messenger):
    """Every consult room comes out failing the policy (as a room adopted from a squatted alias
    before this check would)."""

    async def create_room(
        self, *, key: str, name: str, topic: str, invite: Sequence[UserId]
    ) -> str:
        room = await super().create_room(key=key, name=name, topic=topic, invite=invite)
        if key.startswith("K-"):
            self.unsafe[room] = ("creator", "encryption", "other_admin")
        return room


async def test_no_page_goes_into_a_consult_room_that_fails_the_policy(make: Make) -> None:
    bot = await make(messenger=SquattedConsultRooms())
    consult, room = await bot.ask()
    assert room
    assert bot.messenger.sends(room) == [], "no page, no question in that room"
    assert bot.messenger.pages() == []
    assert [s.room for s in bot.messenger.actions("leave")] == [room]
    [alert] = alerts(bot)
    assert room in alert and consult in alert and "någon annan än boten" in alert
    # The page's time runs out unsent: the requester hears it did not go out, with the
    # switchboard's number.
    await bot.fire_at(bot.clock.now() + ACK_TIMEOUT)
    assert any("har inte gått fram" in text for text in bot.messenger.said(DM))
    await bot.ask("!konsult kardiologi Ny fråga om en annan patient")  # one alert per room
    assert len([a for a in alerts(bot) if "lämnat rummet" in a]) == 2


def rooms_made_for(bot: Bot, user: UserId) -> list[str]:
    return [s.room for s in bot.messenger.actions("create") if s.users == (user,)]


async def test_an_admin_room_that_fails_the_policy_is_replaced_and_the_admins_told_there(
    bot: Bot,
) -> None:
    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    [private] = rooms_made_for(bot, REQ)
    bot.messenger.unsafe[private] = ("encryption",)
    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    [admin_room] = rooms_made_for(bot, ADMIN)  # made for the first alert
    bot.messenger.unsafe[admin_room] = ("other_admin",)
    [_, second] = rooms_made_for(bot, REQ)
    bot.messenger.unsafe[second] = ("join_rule",)

    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    [_, new_admin_room] = rooms_made_for(bot, ADMIN)
    told = bot.messenger.said(new_admin_room)
    assert len(told) == 2
    assert any(admin_room in text and "administratörsrätt" in text for text in told)
    assert any(second in text and "fler än de inbjudna" in text for text in told)
    assert len(bot.messenger.said(admin_room)) == 1, "nothing more in the failing admin room"
    [_, _, third] = rooms_made_for(bot, REQ)
    assert "070-111 11 11" in bot.messenger.said(third)[0]


async def test_a_private_room_recorded_before_the_policy_is_held_to_it_from_the_start(
    make: Make,
) -> None:
    """The old bot took a stranger's room under the alias of REQ's private room and recorded
    it: from the start it gets no answer (before, it was answered in until the bot next chose
    it for something); it is left, the admins told once, and REQ gets a room of the bot's."""
    bot = await make()
    squatted = "!squatted:localhost"
    await bot.consults.set_meta(direct_key(REQ), squatted)
    bot.messenger.unsafe[squatted] = ("creator",)
    await bot.service.start()

    await bot.service.inbox.handle_message(
        IncomingMessage(
            room=squatted,
            event_id=f"$squatted{next(EVENTS)}",
            sender=REQ,
            body="!vem kardiologi",
            at=bot.clock.now(),
            direct=True,
        )
    )
    await bot.flush()
    assert bot.messenger.sends(squatted) == [], "no answer in the stranger's room"
    assert [s.room for s in bot.messenger.actions("leave")] == [squatted]
    [alert] = alerts(bot)
    assert squatted in alert and "någon annan än boten" in alert
    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    new = direct_room_of(bot, REQ)
    assert new != squatted and "070-111 11 11" in bot.messenger.said(new)[0]
