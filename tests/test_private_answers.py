"""Staff names and numbers stay out of rooms with people from other servers (SPEC §6)."""

from __future__ import annotations

import itertools

from consultbot.domain.types import UserId
from consultbot.ports import IncomingInvite, IncomingMessage

from .test_service import K1A, REQ, Bot
from .test_service import bot as bot_fixture
from .test_service import make as make_fixture

bot = bot_fixture
make = make_fixture
GROUP = "!group:localhost"
EVENTS = itertools.count(1)
OUTSIDER = UserId("@eve:elsewhere.example")


async def say_in_mixed_room(bot: Bot, sender: UserId, body: str, room: str = GROUP) -> None:
    await bot.service.handle_message(
        IncomingMessage(
            room=room,
            event_id=f"$mixed{next(EVENTS)}",
            sender=sender,
            body=body,
            at=bot.clock.now(),
            direct=False,
            foreign_members=True,
        )
    )
    await bot.flush()


def direct_room_of(bot: Bot, user: UserId) -> str:
    [created] = [s for s in bot.messenger.actions("create") if s.users == (user,)]
    return created.room


async def test_who_in_a_room_with_someone_from_another_server_answers_in_a_direct_chat(
    bot: Bot,
) -> None:
    await say_in_mixed_room(bot, REQ, "!vem kardiologi")
    [why] = bot.messenger.said(GROUP)
    assert "direktchatt" in why and "070" not in why and "Karin" not in why
    [answer] = bot.messenger.said(direct_room_of(bot, REQ))
    assert "Karin Kardio" in answer and "070-111 11 11" in answer
    # Asked again: the same direct chat, not a new one.
    await say_in_mixed_room(bot, REQ, "!who kardiologi")
    assert len(bot.messenger.said(direct_room_of(bot, REQ))) == 2


async def test_contact_search_in_a_mixed_room_answers_in_a_direct_chat(bot: Bot) -> None:
    await say_in_mixed_room(bot, REQ, "!kontakt mora")
    assert "direktchatt" in bot.messenger.said(GROUP)[0]
    assert len(bot.messenger.said(direct_room_of(bot, REQ))) == 1


async def test_who_in_a_room_of_the_regions_own_people_answers_there(bot: Bot) -> None:
    await bot.say(REQ, "!vem kardiologi", room=GROUP, direct=False)
    await bot.flush()
    [answer] = bot.messenger.said(GROUP)
    assert "Karin Kardio" in answer
    assert bot.messenger.actions("create") == []


async def test_call_in_a_consult_room_with_an_outsider_gives_the_number_privately(
    bot: Bot,
) -> None:
    consult, room = await bot.ask()
    await say_in_mixed_room(bot, REQ, "!ring", room=room)
    assert "direktchatt" in bot.messenger.said(room)[-1]
    assert all("070-111 11 11" not in text for text in bot.messenger.said(room))
    [numbers] = bot.messenger.said(direct_room_of(bot, REQ))
    assert "070-111 11 11" in numbers
    assert (await bot.kinds(consult)).count("phone_contact") == 1


async def test_an_invite_of_someone_on_another_server_into_a_consult_room_is_withdrawn(
    bot: Bot,
) -> None:
    _, room = await bot.ask()
    await bot.service.handle_invite(
        IncomingInvite(
            room=room, event_id="$inv1", inviter=K1A, invitee=OUTSIDER, at=bot.clock.now()
        )
    )
    await bot.flush()
    [kick] = bot.messenger.actions("kick")
    assert kick.room == room and kick.users == (OUTSIDER,)
    assert "återkallad" in bot.messenger.said(room)[-1]


async def test_invites_in_rooms_that_are_not_consult_rooms_are_left_alone(bot: Bot) -> None:
    await bot.service.handle_invite(
        IncomingInvite(
            room=GROUP, event_id="$inv2", inviter=REQ, invitee=OUTSIDER, at=bot.clock.now()
        )
    )
    await bot.flush()
    assert bot.messenger.actions("kick") == [] and bot.messenger.said(GROUP) == []
