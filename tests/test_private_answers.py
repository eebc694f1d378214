"""Who may read what the bot says (issue 19): staff numbers only where everyone may see them,
checked when sent; no answers in a room a user opened that is not fit for them."""

from __future__ import annotations

from consultbot.domain.chat.audience import Fault
from consultbot.domain.duty.people import DirectoryEntry
from consultbot.domain.types import UserId
from consultbot.engine.delivery.content import direct_key
from consultbot.ports import IncomingInvite, IncomingMessage
from tests.support.bots import GROUP, K1A, NOW, OUTSIDER, REQ, Bot

KARIN_PHONE = "070-111 11 11"
VERA_PHONE = "0250-49 30 11"
DIRECTORY = [DirectoryEntry(unit="vc-mora", name="Distriktssköterska Mora", phone="0250-111 22")]


async def say_in_unfit_room(bot: Bot, sender: UserId, body: str, *faults: Fault) -> None:
    await bot.service.inbox.handle_message(
        IncomingMessage(
            room=GROUP,
            event_id=f"$unfit{len(bot.messenger.log)}-{body}",
            sender=sender,
            body=body,
            at=bot.clock.now(),
            unfit=faults or (Fault.FOREIGN_MEMBER,),
        )
    )
    await bot.flush()


async def direct_room_of(bot: Bot, user: UserId) -> str:
    room = await bot.consults.get_meta(direct_key(user))
    assert room is not None, f"no direct chat with {user}"
    return room


def nowhere_in(bot: Bot, room: str, *numbers: str) -> bool:
    texts = [s.content.text + s.content.html for s in bot.messenger.sends(room) if s.content]
    return all(number not in text for number in numbers for text in texts)


async def test_a_room_with_someone_from_elsewhere_gets_no_answer_and_the_asker_is_told_once(
    bot: Bot,
) -> None:
    await say_in_unfit_room(bot, REQ, "!vem kardiologi")
    await say_in_unfit_room(bot, REQ, "!konsult kardiologi fråga")
    assert bot.messenger.said(GROUP) == []
    [told] = bot.messenger.said(await direct_room_of(bot, REQ))
    assert "svarar inte längre" in told and "annan server" not in told
    assert "utanför regionen" in told
    assert await bot.consults.consults_of(REQ) == []  # nothing asked there is acted on
    assert bot.messenger.actions("leave") == []  # the member from elsewhere may leave again


async def test_an_unencrypted_room_is_left_and_the_admins_are_told_once(bot: Bot) -> None:
    await say_in_unfit_room(bot, REQ, "!vem kardiologi", Fault.UNENCRYPTED)
    await say_in_unfit_room(bot, K1A, "!hjälp", Fault.UNENCRYPTED)
    assert [s.room for s in bot.messenger.actions("leave")] == [GROUP]
    texts = [s.content.text for s in bot.messenger.sends() if s.content]
    admin_posts = [t for t in texts if "lämnat rummet" in t]
    assert len(admin_posts) == 1 and GROUP in admin_posts[0]
    assert bot.messenger.said(GROUP) == []
    assert "inte krypterat" in bot.messenger.said(await direct_room_of(bot, REQ))[0]


async def test_who_where_the_room_turns_unfit_before_the_answer_goes_out(bot: Bot) -> None:
    await bot.say(REQ, "!vem kardiologi", room=GROUP, direct=False)
    bot.messenger.unfit_rooms[GROUP] = (Fault.FOREIGN_MEMBER,)  # someone joined meanwhile
    await bot.flush()
    assert bot.messenger.said(GROUP) == []
    told, answer = bot.messenger.said(await direct_room_of(bot, REQ))
    assert "svarar inte längre" in told
    assert "Karin Kardio" in answer and KARIN_PHONE in answer


async def test_the_requesters_notices_follow_them_when_their_room_turns_unfit(bot: Bot) -> None:
    await bot.say(REQ, "!konsult kardiologi fråga", room=GROUP, direct=False)
    bot.messenger.unfit_rooms[GROUP] = (Fault.FOREIGN_MEMBER,)
    await bot.flush()
    assert bot.messenger.said(GROUP) == []
    [consult] = await bot.consults.consults_of(REQ)
    said = bot.messenger.said(await direct_room_of(bot, REQ))
    assert any(consult.id in text for text in said)  # the confirmation, in the direct chat
    assert sum("svarar inte längre" in text for text in said) == 1


async def test_who_in_a_room_of_the_regions_own_people_answers_there(bot: Bot) -> None:
    await bot.say(REQ, "!vem kardiologi", room=GROUP, direct=False)
    await bot.flush()
    [answer] = bot.messenger.said(GROUP)
    assert "Karin Kardio" in answer and KARIN_PHONE in answer
    assert bot.messenger.actions("create") == []


async def test_call_in_a_consult_room_with_someone_invited_from_elsewhere(bot: Bot) -> None:
    consult, room = await bot.ask()
    bot.messenger.outsiders.add(room)
    await bot.say(K1A, "!kvittera", room=room, direct=False)
    await bot.say(REQ, "!ring", room=room, direct=False)
    await bot.flush()
    assert nowhere_in(bot, room, KARIN_PHONE, "+46701111111")
    acked, call = bot.messenger.said(room)[-2:]
    assert "Karin Kardio har kvitterat" in acked and "numret skickat i direktchatt" in acked
    assert "Ring: Karin Kardio (numret skickat i direktchatt)" in call
    direct = bot.messenger.said(await direct_room_of(bot, REQ))
    assert [KARIN_PHONE in text for text in direct] == [True, True]
    assert (await bot.kinds(consult)).count("phone_contact") == 1


async def test_a_page_where_someone_from_elsewhere_is_invited_goes_out_without_numbers(
    bot: Bot,
) -> None:
    bot.messenger.outsiders.add("!room1:localhost")  # the first room the bot makes
    await bot.say(REQ, "!akut kardiologi bröstsmärta")
    await bot.flush()
    [page] = bot.messenger.pages()
    assert page.room == "!room1:localhost"
    assert "!ring" in page.content.text
    assert VERA_PHONE not in page.content.text and KARIN_PHONE not in page.content.text


async def test_contact_search_in_a_consult_room_with_someone_from_elsewhere(bot: Bot) -> None:
    await bot.data.import_directory(DIRECTORY, source="test", now=NOW)
    _, room = await bot.ask()
    bot.messenger.outsiders.add(room)
    await bot.say(K1A, "!kontakt mora", room=room, direct=False)
    await bot.flush()
    assert "Distriktssköterska Mora: (numret skickat i direktchatt)" in bot.messenger.said(room)[-1]
    assert nowhere_in(bot, room, "0250-111 22")
    [answer] = bot.messenger.said(await direct_room_of(bot, K1A))
    assert "0250-111 22" in answer


async def test_switchboard_numbers_are_not_held_back(bot: Bot) -> None:
    _, room = await bot.ask()
    bot.messenger.outsiders.add(room)
    await bot.say(REQ, "!ring", room=room, direct=False)
    await bot.flush()
    assert "Ring: Karin Kardio (numret skickat i direktchatt)" in bot.messenger.said(room)[-1]
    await bot.say(K1A, "!vem kardiologi", room=room, direct=False)
    await bot.flush()
    assert "023-49 00 00" in bot.messenger.said(room)[-1]  # the switchboard: public


async def test_an_invite_of_someone_on_another_server_into_a_consult_room_is_withdrawn(
    bot: Bot,
) -> None:
    _, room = await bot.ask()
    await bot.service.inbox.handle_invite(
        IncomingInvite(
            room=room, event_id="$inv1", inviter=K1A, invitee=OUTSIDER, at=bot.clock.now()
        )
    )
    await bot.flush()
    [kick] = bot.messenger.actions("kick")
    assert kick.room == room and kick.users == (OUTSIDER,)
    assert "återkallad" in bot.messenger.said(room)[-1]


async def test_invites_in_rooms_that_are_not_consult_rooms_are_left_alone(bot: Bot) -> None:
    await bot.service.inbox.handle_invite(
        IncomingInvite(
            room=GROUP, event_id="$inv2", inviter=REQ, invitee=OUTSIDER, at=bot.clock.now()
        )
    )
    await bot.flush()
    assert bot.messenger.actions("kick") == [] and bot.messenger.said(GROUP) == []
