"""Who may be in a consult room and who may change it: the room state the bot sets.

A consult room holds a patient's case. It admits only the region's homeservers (a server ACL
listing the bot's own server and `bot.allowed_servers`; no wildcard, no IP literals), no
guests, joins by invite only. Members may talk, react and invite colleagues from allowed
servers; only the bot may change the ACL, encryption, name, topic, join rules or power levels
(every state event needs the bot's level). Invites of people on other servers are undone by
the bot (see `invite_allowed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# server_of keeps a port: a localpart has no colon (`@a:host:8448` is on `host:8448`).
from consultbot.domain.chat.audience import server_of

BOT_LEVEL = 100
MEMBER_LEVEL = 0
#: Nobody but the bot may stand above this in a room the bot made (50: a moderator at most).
OTHERS_CEILING = 50
#: The key in a room's creation content under which the bot writes which of its rooms this is
#: (the intent it recorded before creating it): with the room's creator, state only the bot can
#: have written.
CREATION_KEY = "org.consultbot.key"
#: The state types `lockdown_changes` brings up to the policy (encryption is never changed).
LOCKDOWN_TYPES = (
    "m.room.server_acl",
    "m.room.guest_access",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.power_levels",
)
#: The state types a room the bot made is checked by (`room_faults`), state key "".
CHECKED_TYPES = ("m.room.create", "m.room.encryption", *LOCKDOWN_TYPES)
MEGOLM = "m.megolm.v1.aes-sha2"

#: Content versions of the locked-down state; bump when the policy changes, and rooms created
#: earlier are brought up to date at start-up.
POLICY_VERSION = 1
#: The start-up lockdown of older rooms; bump when it must run again (2: members' levels are
#: capped at `OTHERS_CEILING`, every room the bot created is included, not consult rooms only).
LOCKDOWN_VERSION = 2


def allowed_servers(bot_id: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """The bot's own server and the allowed ones, each once, in order, lower-cased."""
    servers: list[str] = []
    for server in (server_of(bot_id), *(s.lower() for s in allowed)):
        if server and server != "*" and server not in servers:
            servers.append(server)
    return tuple(servers)


def invite_allowed(user_id: str, servers: Iterable[str]) -> bool:
    """True when `user_id` is on one of `servers` (as `allowed_servers` returns them)."""
    return server_of(user_id) in set(servers)


def server_acl(servers: Iterable[str]) -> dict[str, Any]:
    """`m.room.server_acl` content admitting exactly `servers`."""
    return {"allow": list(servers), "deny": [], "allow_ip_literals": False}


def power_levels(users: Mapping[str, int] | None = None) -> dict[str, Any]:
    """`m.room.power_levels` content: the bot alone may change state; members may invite.

    Without `users` the content leaves the users out, for room creation: the server then
    gives the creator (the bot) its level as the room version has it — listed at 100 before
    room version 12, implicit and unlisted (it must not be listed) from version 12 on.
    """
    content: dict[str, Any] = {} if users is None else {"users": dict(users)}
    return content | {
        "users_default": MEMBER_LEVEL,
        "events_default": MEMBER_LEVEL,
        "state_default": BOT_LEVEL,
        "events": {
            "m.room.server_acl": BOT_LEVEL,
            "m.room.encryption": BOT_LEVEL,
            "m.room.name": BOT_LEVEL,
            "m.room.topic": BOT_LEVEL,
            "m.room.avatar": BOT_LEVEL,
            "m.room.power_levels": BOT_LEVEL,
            "m.room.history_visibility": BOT_LEVEL,
            "m.room.join_rules": BOT_LEVEL,
            "m.room.guest_access": BOT_LEVEL,
            "m.room.canonical_alias": BOT_LEVEL,
            "m.room.tombstone": BOT_LEVEL,
            "im.vector.modular.widgets": BOT_LEVEL,
        },
        "invite": MEMBER_LEVEL,
        "kick": BOT_LEVEL,
        "ban": BOT_LEVEL,
        "redact": BOT_LEVEL,
        "notifications": {"room": BOT_LEVEL},
    }


def locked_state(servers: Iterable[str]) -> list[dict[str, Any]]:
    """The state events a consult room is created with (besides power levels)."""
    contents = {
        "m.room.encryption": {"algorithm": MEGOLM},
        "m.room.history_visibility": {"history_visibility": "shared"},
        "m.room.server_acl": server_acl(servers),
        "m.room.guest_access": {"guest_access": "forbidden"},
        "m.room.join_rules": {"join_rule": "invite"},
    }
    return [{"type": kind, "state_key": "", "content": body} for kind, body in contents.items()]


def lockdown_changes(
    bot_id: str, servers: Iterable[str], current: Mapping[str, Mapping[str, Any] | None]
) -> list[tuple[str, dict[str, Any]]]:
    """The state events (type, content) that bring an older room up to the policy.

    `current` maps each of `LOCKDOWN_TYPES` to the room's content for it (None when the room
    has none). Members' own levels are kept up to `OTHERS_CEILING`: nobody but the bot keeps a
    level that could change the room. The bot's own entry is kept as it is (absent in room
    version 12 and later, where the creator is not listed).
    """
    servers = tuple(servers)
    wanted: list[tuple[str, dict[str, Any]]] = [
        (e["type"], e["content"]) for e in locked_state(servers) if e["type"] != "m.room.encryption"
    ]
    levels = current.get("m.room.power_levels") or {}
    users = levels.get("users", {}) if isinstance(levels, Mapping) else {}
    kept = {
        user: level if user == bot_id else min(level, OTHERS_CEILING)
        for user, level in (users.items() if isinstance(users, Mapping) else ())
        if isinstance(level, int) and (user == bot_id or level > MEMBER_LEVEL)
    }
    wanted.append(("m.room.power_levels", power_levels(kept)))
    return [(kind, content) for kind, content in wanted if not _same(current.get(kind), content)]


def _same(have: Mapping[str, Any] | None, want: Mapping[str, Any]) -> bool:
    if have is None:
        return False
    return all(have.get(key) == value for key, value in want.items())


# -- is a room the bot made still the bot's? ---------------------------------------------------


def creators_privileged(room_version: str) -> bool:
    """True from room version 12 on: the creator's power is implicit (not in the levels)."""
    return room_version.isdigit() and int(room_version) >= 12


def room_faults(
    bot_id: str, servers: Iterable[str], creator: str, state: Mapping[str, Mapping[str, Any]]
) -> tuple[str, ...]:
    """What keeps a room the bot made from being used; () when nothing does.

    `creator` is the sender of the room's `m.room.create` (only that account can have sent
    it) and `state` maps each type of `CHECKED_TYPES` the room has to its content. Each fault
    is a word: `creator` (someone else made the room), `encryption` (not end-to-end encrypted),
    `bot_level` (the bot is not at 100), `other_admin` (someone else is above
    `OTHERS_CEILING`, or a second creator), `join_rule` (not invite only) and `server_acl`
    (missing, or admitting a server, a pattern or an IP literal the policy does not).
    A narrower ACL than the policy's is no fault: it lets nobody in who should not be.
    """
    faults: list[str] = []
    if creator != bot_id:
        faults.append("creator")
    if (state.get("m.room.encryption") or {}).get("algorithm") != MEGOLM:
        faults.append("encryption")
    faults.extend(_level_faults(bot_id, creator, state))
    if (state.get("m.room.join_rules") or {}).get("join_rule") != "invite":
        faults.append("join_rule")
    if not _acl_within(state.get("m.room.server_acl"), tuple(servers)):
        faults.append("server_acl")
    return tuple(faults)


def _level_faults(bot_id: str, creator: str, state: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """`bot_level` and `other_admin` as `room_faults` finds them."""
    create = state.get("m.room.create") or {}
    privileged = creators_privileged(str(create.get("room_version", "1")))
    levels = state.get("m.room.power_levels")
    if levels is None:
        # No levels at all: the creator has 100 and everyone else 0 (the spec's defaults).
        users: Mapping[str, Any] = {creator: BOT_LEVEL}
        default: Any = MEMBER_LEVEL
    else:
        listed = levels.get("users")
        users = listed if isinstance(listed, Mapping) else {}
        default = levels.get("users_default", MEMBER_LEVEL)
    faults = []
    bot_is_creator = privileged and creator == bot_id
    if not bot_is_creator and _level(users.get(bot_id, default)) < BOT_LEVEL:
        faults.append("bot_level")
    extra_creators = create.get("additional_creators") if privileged else None
    others_above = _level(default) > OTHERS_CEILING or any(
        _level(level) > OTHERS_CEILING for user, level in users.items() if user != bot_id
    )
    if others_above or extra_creators or (privileged and creator != bot_id):
        faults.append("other_admin")
    return faults


def _level(value: Any) -> int:
    """A power level as the server reads it (an integer; a string of digits in old rooms)."""
    if isinstance(value, bool):
        return MEMBER_LEVEL
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return MEMBER_LEVEL


def _acl_within(acl: Mapping[str, Any] | None, servers: tuple[str, ...]) -> bool:
    """True when the ACL admits the bot's own server and nothing outside `servers`."""
    if acl is None or acl.get("allow_ip_literals", True) is not False:
        return False
    allow = acl.get("allow")
    if not isinstance(allow, list) or not all(isinstance(entry, str) for entry in allow):
        return False
    admitted = {entry.lower() for entry in allow}
    return bool(servers) and servers[0] in admitted and admitted <= set(servers)
