"""Who can read a room: the checks before the bot answers, posts a number or joins."""

from __future__ import annotations

import pytest

from consultbot.domain.chat.audience import (
    Fault,
    RoomFacts,
    faults,
    foreign,
    invite_faults,
    lasting,
    numbers_allowed,
)

SERVERS = ("region.se", "lasarett.region.se")
ANNA = "@anna:region.se"
BO = "@bo:lasarett.region.se"
EVE = "@eve:evil.example"


def room(*members: str, encrypted: bool = True, join_rule: str = "invite") -> RoomFacts:
    return RoomFacts(encrypted=encrypted, join_rule=join_rule, members=members)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (room(ANNA, BO), ()),
        (room(ANNA, "@Anna:REGION.SE"), ()),  # server names are case-insensitive
        (room(ANNA, EVE), (Fault.FOREIGN_MEMBER,)),
        (room(ANNA, "@eve:region.se.evil.example"), (Fault.FOREIGN_MEMBER,)),
        (room(ANNA, "@eve:evil.example:region.se"), (Fault.FOREIGN_MEMBER,)),  # not a suffix
        (room(ANNA, "not-a-user"), (Fault.FOREIGN_MEMBER,)),
        (room(ANNA, encrypted=False), (Fault.UNENCRYPTED,)),
        (room(ANNA, join_rule="public"), (Fault.PUBLIC,)),
        (room(ANNA, join_rule="knock"), ()),
        (room(ANNA, join_rule="restricted"), ()),
        (
            room(ANNA, EVE, encrypted=False, join_rule="public"),
            (Fault.UNENCRYPTED, Fault.PUBLIC, Fault.FOREIGN_MEMBER),
        ),
    ],
)
def test_a_room_a_user_opened_is_answered_only_when_it_has_no_fault(
    facts: RoomFacts, expected: tuple[Fault, ...]
) -> None:
    assert faults(facts, SERVERS) == expected


@pytest.mark.parametrize(
    ("facts", "allowed"),
    [
        (room(ANNA, BO), True),
        (room(ANNA, BO, join_rule="public"), True),  # whoever is in it now is the region's
        (room(ANNA, EVE), False),
        (room(ANNA, encrypted=False), False),
        (room(), True),
    ],
)
def test_a_staff_number_goes_only_where_everyone_is_on_an_allowed_server(
    facts: RoomFacts, allowed: bool
) -> None:
    assert numbers_allowed(facts, SERVERS) is allowed


@pytest.mark.parametrize(
    ("inviter", "facts", "expected"),
    [
        (ANNA, room(ANNA, "@bot:region.se"), ()),
        (EVE, room(EVE), (Fault.FOREIGN_INVITER, Fault.FOREIGN_MEMBER)),
        (ANNA, room(ANNA, encrypted=False), (Fault.UNENCRYPTED,)),
        (ANNA, room(ANNA, EVE), (Fault.FOREIGN_MEMBER,)),
        (ANNA, room(ANNA, join_rule="public"), (Fault.PUBLIC,)),
    ],
)
def test_an_invite_is_accepted_only_from_the_region_into_a_closed_encrypted_room(
    inviter: str, facts: RoomFacts, expected: tuple[Fault, ...]
) -> None:
    allowed = inviter != EVE
    assert invite_faults(facts, SERVERS, inviter_allowed=allowed) == expected


def test_only_a_missing_encryption_makes_the_bot_leave() -> None:
    assert lasting((Fault.UNENCRYPTED, Fault.FOREIGN_MEMBER))
    assert not lasting((Fault.FOREIGN_MEMBER, Fault.PUBLIC))


def test_the_members_from_elsewhere_are_named_in_order() -> None:
    assert foreign([EVE, ANNA, "@mallory:x.org"], SERVERS) == (EVE, "@mallory:x.org")
