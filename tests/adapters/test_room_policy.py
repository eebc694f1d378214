"""The consult-room policy as plain values: which servers, which levels, what changes."""

from __future__ import annotations

from consultbot.adapters.room_policy import (
    allowed_servers,
    invite_allowed,
    lockdown_changes,
    locked_state,
    power_levels,
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
    assert changes["m.room.power_levels"]["users"] == {BOT: 100, "@doc:region.example": 99}
    assert changes["m.room.power_levels"]["state_default"] == 100
