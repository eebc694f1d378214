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

BOT_LEVEL = 100
MEMBER_LEVEL = 0

#: Content versions of the locked-down state; bump when the policy changes, and rooms created
#: earlier are brought up to date at start-up.
POLICY_VERSION = 1


def server_of(user_id: str) -> str:
    """The server name of a Matrix id, lower-cased (server names are case-insensitive)."""
    return user_id.rpartition(":")[2].lower() if ":" in user_id else ""


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
    return [
        {
            "type": "m.room.encryption",
            "state_key": "",
            "content": {"algorithm": "m.megolm.v1.aes-sha2"},
        },
        {
            "type": "m.room.history_visibility",
            "state_key": "",
            "content": {"history_visibility": "shared"},
        },
        {"type": "m.room.server_acl", "state_key": "", "content": server_acl(servers)},
        {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}},
        {"type": "m.room.join_rules", "state_key": "", "content": {"join_rule": "invite"}},
    ]


def lockdown_changes(
    bot_id: str, servers: Iterable[str], current: Mapping[str, Mapping[str, Any] | None]
) -> list[tuple[str, dict[str, Any]]]:
    """The state events (type, content) that bring an older room up to the policy.

    `current` maps each state type in `locked_state` plus `m.room.power_levels` to the room's
    content for it (None when the room has none). Members' own levels are kept, except that
    nobody but the bot keeps a level that could change the room. The bot's own entry is kept
    as it is (absent in room version 12 and later, where the creator is not listed).
    """
    servers = tuple(servers)
    wanted: list[tuple[str, dict[str, Any]]] = [
        (e["type"], e["content"]) for e in locked_state(servers) if e["type"] != "m.room.encryption"
    ]
    levels = current.get("m.room.power_levels") or {}
    users = levels.get("users", {}) if isinstance(levels, Mapping) else {}
    kept = {
        user: level if user == bot_id else min(level, BOT_LEVEL - 1)
        for user, level in (users.items() if isinstance(users, Mapping) else ())
        if isinstance(level, int) and (user == bot_id or level > MEMBER_LEVEL)
    }
    wanted.append(("m.room.power_levels", power_levels(kept)))
    return [(kind, content) for kind, content in wanted if not _same(current.get(kind), content)]


def _same(have: Mapping[str, Any] | None, want: Mapping[str, Any]) -> bool:
    if have is None:
        return False
    return all(have.get(key) == value for key, value in want.items())
