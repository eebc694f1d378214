"""The consult-room policy as plain values: which servers, which levels, what changes."""

from __future__ import annotations

from typing import Any

import pytest

from consultbot.adapters.matrix.room_policy import (
    CREATION_KEY,
    allowed_servers,
    invite_allowed,
    lockdown_changes,
    locked_state,
    power_levels,
    room_faults,
)

BOT = "@konsultbot:Region.example"


def test_the_bots_server_comes_first_each_server_once_lower_case_and_no_wildcard() -> None:
    servers = allowed_servers(BOT, ["region.example", "Kommun.example", "*", "kommun.example"])
    assert servers == ("region.example", "kommun.example")


def test_invites_are_allowed_by_server_name_whatever_its_case() -> None:
    servers = allowed_servers(BOT, ["kommun.example"])
    assert invite_allowed("@anna:KOMMUN.example", servers)
    assert not invite_allowed("@eve:evil.example", servers)
    assert not invite_allowed("@eve:kommun.example.evil.example", servers)
    assert not invite_allowed("not-a-matrix-id", servers)


def test_creation_levels_leave_the_creator_to_the_server() -> None:
    assert "users" not in power_levels()
    assert power_levels({"@a:x": 50})["users"] == {"@a:x": 50}


def test_an_up_to_date_room_needs_no_change() -> None:
    servers = allowed_servers(BOT, [])
    current = {e["type"]: e["content"] for e in locked_state(servers)}
    current["m.room.power_levels"] = power_levels({BOT: 100})
    assert lockdown_changes(BOT, servers, current) == []


def test_an_old_room_gets_acl_guest_access_and_levels_and_members_lose_admin() -> None:
    servers = allowed_servers(BOT, [])
    current = {
        "m.room.join_rules": {"join_rule": "invite"},
        "m.room.history_visibility": {"history_visibility": "shared"},
        "m.room.guest_access": {"guest_access": "can_join"},
        "m.room.power_levels": {"users": {BOT: 100, "@doc:region.example": 100}},
    }
    changes = dict(lockdown_changes(BOT, servers, current))
    assert set(changes) == {"m.room.server_acl", "m.room.guest_access", "m.room.power_levels"}
    assert changes["m.room.server_acl"]["allow"] == ["region.example"]
    assert changes["m.room.power_levels"]["users"] == {BOT: 100, "@doc:region.example": 50}
    assert changes["m.room.power_levels"]["state_default"] == 100


# -- is a room the bot made still the bot's? ----------------------------------------------------

EVE = "@eve:region.example"  # an ordinary, hostile account on the bot's own server
DOC = "@doc:kommun.example"
SERVERS = allowed_servers(BOT, ["kommun.example"])


def made(version: str) -> dict[str, dict[str, Any]]:
    """The state of a room as the bot creates it, in room `version`."""
    state = {e["type"]: e["content"] for e in locked_state(SERVERS)}
    state["m.room.create"] = {"room_version": version, CREATION_KEY: "K-000124/ab12"}
    listed = {} if version == "12" else {BOT: 100}
    state["m.room.power_levels"] = power_levels(listed)
    return state


def changed(version: str, kind: str, content: dict[str, Any] | None) -> dict[str, Any]:
    state = made(version)
    if content is None:
        del state[kind]
    else:
        state[kind] = content
    return state


def levels(users: dict[str, Any], **more: Any) -> dict[str, Any]:
    return power_levels(users) | more


SQUATTED = {  # Eve made it under the bot's old alias: unencrypted, public, herself at 100
    "m.room.create": {"room_version": "10"},
    "m.room.join_rules": {"join_rule": "public"},
    "m.room.power_levels": {"users": {EVE: 100}},
}

CASES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("as made, version 12 (creator unlisted)", BOT, made("12"), ()),
    ("as made, version 10 (bot listed at 100)", BOT, made("10"), ()),
    (
        "a member at 50 is a moderator, no more",
        BOT,
        changed("12", "m.room.power_levels", levels({DOC: 50})),
        (),
    ),
    (
        "a narrower ACL lets nobody in who should not be",
        BOT,
        changed(
            "12",
            "m.room.server_acl",
            {"allow": ["region.example"], "deny": [], "allow_ip_literals": False},
        ),
        (),
    ),
    (
        "an ACL in other case is the same ACL",
        BOT,
        changed(
            "12",
            "m.room.server_acl",
            {"allow": ["Region.example", "kommun.example"], "deny": [], "allow_ip_literals": False},
        ),
        (),
    ),
    (
        "made by a squatter",
        EVE,
        SQUATTED,
        ("creator", "encryption", "bot_level", "other_admin", "join_rule", "server_acl"),
    ),
    (
        "made by someone else in version 12: they are its creator",
        EVE,
        made("12"),
        ("creator", "bot_level", "other_admin"),
    ),
    ("not encrypted", BOT, changed("12", "m.room.encryption", None), ("encryption",)),
    (
        "another algorithm than Megolm",
        BOT,
        changed("12", "m.room.encryption", {"algorithm": "m.olm.v1.curve25519-aes-sha2"}),
        ("encryption",),
    ),
    (
        "someone else at 51",
        BOT,
        changed("12", "m.room.power_levels", levels({EVE: 51})),
        ("other_admin",),
    ),
    (
        "someone else at 100 in an old room, as a string",
        BOT,
        changed("10", "m.room.power_levels", levels({BOT: 100, EVE: "100"})),
        ("other_admin",),
    ),
    (
        "everyone above 50 by default",
        BOT,
        changed("12", "m.room.power_levels", levels({}, users_default=60)),
        ("other_admin",),
    ),
    (
        "a second creator in version 12",
        BOT,
        changed("12", "m.room.create", {"room_version": "12", "additional_creators": [EVE]}),
        ("other_admin",),
    ),
    (
        "the bot below 100 in an old room",
        BOT,
        changed("10", "m.room.power_levels", levels({BOT: 99})),
        ("bot_level",),
    ),
    (
        "the bot unlisted in an old room",
        BOT,
        changed("10", "m.room.power_levels", levels({})),
        ("bot_level",),
    ),
    (
        "no power levels: the creator alone at 100",
        BOT,
        changed("10", "m.room.power_levels", None),
        (),
    ),
    (
        "public join rule",
        BOT,
        changed("12", "m.room.join_rules", {"join_rule": "public"}),
        ("join_rule",),
    ),
    (
        "knock join rule",
        BOT,
        changed("12", "m.room.join_rules", {"join_rule": "knock"}),
        ("join_rule",),
    ),
    ("no join rule", BOT, changed("12", "m.room.join_rules", None), ("join_rule",)),
    ("no ACL", BOT, changed("12", "m.room.server_acl", None), ("server_acl",)),
    (
        "an ACL with a wildcard",
        BOT,
        changed(
            "12", "m.room.server_acl", {"allow": ["*"], "deny": [], "allow_ip_literals": False}
        ),
        ("server_acl",),
    ),
    (
        "an ACL admitting a server outside the region",
        BOT,
        changed(
            "12",
            "m.room.server_acl",
            {"allow": [*SERVERS, "evil.example"], "deny": [], "allow_ip_literals": False},
        ),
        ("server_acl",),
    ),
    (
        "an ACL admitting IP literals (the default when unsaid)",
        BOT,
        changed("12", "m.room.server_acl", {"allow": list(SERVERS), "deny": []}),
        ("server_acl",),
    ),
    (
        "an ACL shutting out the bot's own server",
        BOT,
        changed(
            "12",
            "m.room.server_acl",
            {"allow": ["kommun.example"], "deny": [], "allow_ip_literals": False},
        ),
        ("server_acl",),
    ),
]


@pytest.mark.parametrize(
    ("creator", "state", "faults"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_room_the_bot_made_is_used_only_as_the_policy_has_it(
    creator: str, state: dict[str, Any], faults: tuple[str, ...]
) -> None:
    assert room_faults(BOT, SERVERS, creator, state) == faults


def test_the_lockdown_brings_an_old_room_to_where_it_passes() -> None:
    state = changed("10", "m.room.power_levels", levels({BOT: 100, DOC: 99}))
    del state["m.room.server_acl"]
    state["m.room.join_rules"] = {"join_rule": "public"}
    assert room_faults(BOT, SERVERS, BOT, state) == ("other_admin", "join_rule", "server_acl")
    state.update(lockdown_changes(BOT, SERVERS, state))
    assert room_faults(BOT, SERVERS, BOT, state) == ()
