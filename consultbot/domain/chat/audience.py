"""Who can read a room: the checks that decide whether the bot may speak in it.

A room's audience is everyone in it, joined or invited (an invitee's devices get the room key
with the next message). Three questions are asked of it:

- May a staff phone number be posted there? Only when the room is encrypted and every member
  is on an allowed server (`numbers_allowed`), checked at the moment of sending.
- May the bot answer in a room a user opened (a direct chat, a team room)? Only while it is
  encrypted, not open to anyone (join rule `public`) and every member is on an allowed server
  (`faults`). An unencrypted room is a fault for good: the bot leaves it. The others may pass
  again (the member from elsewhere leaves, the join rule is changed back).
- May the bot accept an invite? Only from a user on an allowed server, to an encrypted room
  that is not public and whose members are all on allowed servers (`invite_faults`); the same
  checks again on the room's real state once joined, since the invite's state is what the
  inviter's server says.

Pure: the adapter reads the room's state and passes it in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    """Why a room is not fit for the bot's answers. The values are stored and shown."""

    UNENCRYPTED = "unencrypted"
    FOREIGN_MEMBER = "foreign_member"  # someone joined or invited is on another server
    PUBLIC = "public"  # anyone may join without being invited
    FOREIGN_INVITER = "foreign_inviter"  # an invite from someone on another server


#: Faults that cannot pass by themselves: the bot leaves the room.
LASTING = frozenset({Fault.UNENCRYPTED})


@dataclass(frozen=True, kw_only=True)
class RoomFacts:
    """What the room's state says now: encryption, join rule, members joined or invited."""

    encrypted: bool
    join_rule: str
    members: tuple[str, ...]


def server_of(user_id: str) -> str:
    """The server name of a Matrix id, lower-cased ("" for something that is not one)."""
    if not user_id.startswith("@") or ":" not in user_id:
        return ""
    return user_id.split(":", 1)[1].lower()


def on_allowed_server(user_id: str, servers: frozenset[str]) -> bool:
    """True for a user on one of `servers` (lower-case names, `validation.servers_of`), the
    server read case-insensitively and with its port (SPEC §4: requesters must be on these)."""
    server = server_of(user_id)
    return bool(server) and server in servers


def foreign(members: Iterable[str], servers: Iterable[str]) -> tuple[str, ...]:
    """The members whose server is not one of `servers` (lower-case server names), in order."""
    allowed = {s.lower() for s in servers}
    return tuple(m for m in members if server_of(m) not in allowed)


def numbers_allowed(facts: RoomFacts, servers: Iterable[str]) -> bool:
    """True when a staff phone number may be posted: encrypted, nobody from elsewhere."""
    return facts.encrypted and not foreign(facts.members, servers)


def faults(facts: RoomFacts, servers: Iterable[str]) -> tuple[Fault, ...]:
    """Why the bot may not answer in a room a user opened; () when it may."""
    found = (
        (Fault.UNENCRYPTED, not facts.encrypted),
        (Fault.PUBLIC, facts.join_rule == "public"),
        (Fault.FOREIGN_MEMBER, bool(foreign(facts.members, servers))),
    )
    return tuple(fault for fault, present in found if present)


def invite_faults(
    facts: RoomFacts, servers: Iterable[str], *, inviter_allowed: bool
) -> tuple[Fault, ...]:
    """Why an invite is declined; () when the bot joins. Whether the inviter may use the bot
    is the caller's to say (the requesters' servers, `bot.allowed_servers`)."""
    found = () if inviter_allowed else (Fault.FOREIGN_INVITER,)
    return (*found, *faults(facts, servers))


def lasting(found: Iterable[Fault]) -> bool:
    """True when one of `found` cannot pass by itself (the bot leaves the room)."""
    return any(f in LASTING for f in found)
