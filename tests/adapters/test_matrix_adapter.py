"""The Matrix adapter's own promises, without a homeserver."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import (
    DeviceList,
    KeysQueryResponse,
    MatrixRoom,
    RoomForgetResponse,
    RoomInviteError,
    RoomInviteResponse,
    RoomLeaveError,
    RoomLeaveResponse,
    RoomMessageText,
    Rooms,
)
from nio.events.room_events import Event

from consultbot.adapters.matrix import nio_client, session, sync
from consultbot.adapters.matrix.client import MatrixBot
from consultbot.adapters.matrix.session import EncryptionUnavailable
from consultbot.domain.types import Outcome, UserId
from consultbot.ports import IncomingMessage, IncomingReaction, IncomingVote
from tests.adapters.matrix_support import logged_in_client, offline_bot, with_room


def bot(tmp_path: Path) -> MatrixBot:
    return offline_bot(tmp_path / "store")


def text_event(event_id: str, body: str) -> Any:
    return RoomMessageText.from_dict(
        {
            "type": "m.room.message",
            "event_id": event_id,
            "sender": "@doc:localhost",
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": body},
        }
    )


async def test_refuses_to_start_without_encryption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session, "encryption_available", lambda: False)
    with pytest.raises(EncryptionUnavailable, match="matrix-nio\\[e2e\\]"):
        await bot(tmp_path).session.login()


async def test_a_failing_handler_does_not_stop_the_next_event(tmp_path: Path) -> None:
    handled: list[str] = []

    class Flaky:
        async def handle_message(self, message: IncomingMessage) -> None:
            if message.event_id == "$bad":
                raise RuntimeError("a bug in one handler")
            handled.append(message.event_id)

        async def handle_reaction(self, reaction: IncomingReaction) -> None:
            raise AssertionError("no reactions here")

        def allowed(self, user: str) -> bool:
            return True

    b = bot(tmp_path)
    with_room(b)
    b.session.handler = Flaky()
    for event in (text_event("$bad", "!hjälp"), text_event("$good", "!hjälp")):
        await b.sync.handle_event("!room:localhost", event)
    assert handled == ["$good"]


async def test_the_bots_own_messages_are_not_handled(tmp_path: Path) -> None:
    b = bot(tmp_path)
    with_room(b)

    seen: list[str] = []

    class Recorder:
        async def handle_message(self, message: IncomingMessage) -> None:
            seen.append(message.event_id)

    b.session.handler = Recorder()  # type: ignore[assignment]
    own = text_event("$own", "!hjälp")
    own.sender = "@bot:localhost"
    await b.sync.handle_event("!room:localhost", own)
    await b.sync.handle_event("!room:localhost", text_event("$theirs", "!hjälp"))
    assert seen == ["$theirs"]


def test_reply_fallback_is_stripped_before_commands_are_read() -> None:
    from consultbot.adapters.matrix.events import strip_reply_fallback

    reply = {"content": {"m.relates_to": {"m.in_reply_to": {"event_id": "$page"}}}}
    body = "> <@konsultbot:localhost> Karin: konsultation K-000001\n> fråga\n\n!kvittera"
    assert strip_reply_fallback(body, reply) == "!kvittera"
    assert strip_reply_fallback("!kvittera", reply) == "!kvittera"
    # Not a reply: a quote stays part of the text.
    assert strip_reply_fallback("> citat\n\n!hjälp", {"content": {}}) == "> citat\n\n!hjälp"


def test_mentions_are_read_from_m_mentions() -> None:
    from consultbot.adapters.matrix.events import mentioned

    source = {"content": {"body": "!lämna Cilla", "m.mentions": {"user_ids": ["@c:localhost"]}}}
    assert mentioned(source) == ("@c:localhost",)
    assert mentioned({"content": {"body": "!lämna"}}) == ()
    assert mentioned({"content": {"m.mentions": {"user_ids": "bad"}}}) == ()


class LeavingClient:
    """Answers room_leave with `leave_error` (or success) and records what was asked."""

    def __init__(self, leave_error: str | None) -> None:
        self.leave_error = leave_error
        self.calls: list[tuple[str, str]] = []

    async def room_leave(self, room: str) -> Any:
        self.calls.append(("leave", room))
        if self.leave_error is None:
            return RoomLeaveResponse()
        return RoomLeaveError("no", self.leave_error)

    async def room_forget(self, room: str) -> Any:
        self.calls.append(("forget", room))
        return RoomForgetResponse(room)


@pytest.mark.parametrize("answer", [None, "M_FORBIDDEN", "M_NOT_FOUND"])
async def test_leaving_also_forgets_and_a_room_already_left_is_fine(
    tmp_path: Path, answer: str | None
) -> None:
    b = bot(tmp_path)
    client = LeavingClient(answer)
    b.session.client = client  # type: ignore[assignment]
    await b.leave("!old:localhost")
    assert client.calls == [("leave", "!old:localhost"), ("forget", "!old:localhost")]


async def test_a_leave_the_homeserver_refuses_otherwise_is_retried_by_the_outbox(
    tmp_path: Path,
) -> None:
    b = bot(tmp_path)
    client = LeavingClient("M_LIMIT_EXCEEDED")
    b.session.client = client  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="M_LIMIT_EXCEEDED"):
        await b.leave("!old:localhost")
    assert client.calls == [("leave", "!old:localhost")]  # not forgotten while still in it


class InvitingClient:
    """Answers room_invite with success, or with an error of this HTTP status and text."""

    def __init__(self, status: int | None, errcode: str, message: str) -> None:
        self.status, self.errcode, self.message = status, errcode, message
        self.rooms: dict[str, MatrixRoom] = {}
        self.invited: list[tuple[str, str]] = []

    async def room_invite(self, room: str, user: str) -> Any:
        self.invited.append((room, user))
        if self.status is None:
            return RoomInviteResponse()
        error = RoomInviteError(self.message, self.errcode)
        error.transport_response = SimpleNamespace(status=self.status)  # type: ignore[assignment]
        return error


@pytest.mark.parametrize(
    ("status", "errcode", "message", "outcome"),
    [
        pytest.param(None, "", "", True, id="invited"),
        pytest.param(403, "M_FORBIDDEN", "@vera:localhost is already in the room.", True, id="in"),
        pytest.param(403, "M_FORBIDDEN", "You don't have permission", False, id="refused"),
        pytest.param(502, "", "Bad Gateway", None, id="proxy-while-restarting"),
        pytest.param(500, "M_UNKNOWN", "Internal server error", None, id="server-error"),
    ],
)
async def test_the_requesters_invite_is_sure_refused_for_good_or_raised_to_be_retried(
    tmp_path: Path, status: int | None, errcode: str, message: str, outcome: bool | None
) -> None:
    """`let_in` (the requester's invite after the page): an error that may pass raises, so
    the outbox tries again; a refusal for good is False; an invite already there is True."""
    b = bot(tmp_path)
    client = InvitingClient(status, errcode, message)
    b.session.client = client  # type: ignore[assignment]

    async def fit(room: str) -> None:
        return None

    b.rooms.vet_any = fit  # type: ignore[method-assign]
    user = UserId("@vera:localhost")
    if outcome is None:
        with pytest.raises(RuntimeError, match="failed"):
            await b.let_in("!c:localhost", user)
    else:
        assert await b.let_in("!c:localhost", user) is outcome
    assert client.invited == [("!c:localhost", user)]


def test_only_requests_that_change_a_room_need_the_lease() -> None:
    from consultbot.adapters.matrix.nio_client import writes_rooms

    room = "/_matrix/client/v3/rooms/%21abc%3Alocalhost"
    assert writes_rooms("PUT", f"{room}/send/m.room.message/txn1?access_token=x")
    assert writes_rooms("POST", f"{room}/invite")
    assert writes_rooms("PUT", f"{room}/state/m.room.name/")
    assert writes_rooms("POST", "/_matrix/client/v3/createRoom")
    assert writes_rooms("POST", "/_matrix/client/v3/join/%21abc%3Alocalhost")
    assert not writes_rooms("GET", "/_matrix/client/v3/sync?since=s1")
    assert not writes_rooms("GET", f"{room}/messages?from=t1")
    assert not writes_rooms("POST", "/_matrix/client/v3/keys/upload")
    assert not writes_rooms("POST", "/_matrix/client/v3/keys/query")
    assert not writes_rooms("PUT", "/_matrix/client/v3/sendToDevice/m.room.encrypted/t2")
    assert not writes_rooms("POST", "/_matrix/client/v3/login")


class StandbyClient:
    """A nio client as the standby sees it: scripted syncs, each with its to-device count."""

    def __init__(self, to_device: list[int]) -> None:
        self.to_device = to_device
        self.calls: list[tuple[str | None, int]] = []  # (since, timeout) of each sync
        self.should_upload_keys = self.should_query_keys = self.should_claim_keys = False
        self.until: Any = None

    async def sync(self, *, timeout: int, since: str | None, **_: Any) -> Any:  # noqa: ASYNC109
        from unittest.mock import MagicMock

        from nio import SyncResponse

        n = len(self.calls)
        self.calls.append((since, timeout))
        if n == 1:
            self.until.set()  # the lease is taken while the standby waits
        response = MagicMock(spec=SyncResponse)
        response.next_batch = f"s{n + 1}"
        response.rooms = Rooms(invite={}, join={}, leave={})
        response.device_list = DeviceList(changed=[], left=[])
        response.to_device_events = [object()] * (
            self.to_device[n] if n < len(self.to_device) else 0
        )
        return response

    async def send_to_device_messages(self) -> None:
        pass


async def test_a_standby_drains_its_to_device_messages_before_it_takes_over(
    tmp_path: Path,
) -> None:
    import asyncio

    standby = bot(tmp_path)
    standby.sync.own_token = True
    standby.session.config.store_path.mkdir(parents=True)
    (standby.session.config.store_path / sync.OWN_TOKEN_FILE).write_text("s0")
    client = StandbyClient(to_device=[0, 1, 2, 1, 0])
    client.until = asyncio.Event()
    standby.session.client = client
    await standby.standby(client.until)
    # From its own position, waiting while standing by; once the lease is taken, without
    # waiting, until a sync brings no to-device message (that one acknowledges the last).
    assert client.calls == [
        ("s0", sync.STANDBY_POLL_MS),
        ("s1", sync.STANDBY_POLL_MS),
        ("s2", 0),
        ("s3", 0),
        ("s4", 0),
    ]
    assert (standby.session.config.store_path / sync.OWN_TOKEN_FILE).read_text() == "s5"


def test_a_message_is_not_encrypted_under_a_key_a_members_device_has_not_got(
    tmp_path: Path,
) -> None:
    """The check behind the SIGKILL suite's unreadable page: a device in the room that the
    room's shared key has not reached is reported (so the key is shared with it first), unless
    it has no Olm session and its one-time key was already asked for (nothing more to try)."""
    from nio.crypto import OlmDevice

    client = logged_in_client(tmp_path)
    room = MatrixRoom("!r:localhost", "@bot:localhost")
    room.encrypted = True
    room.members_synced = True
    client.rooms[room.room_id] = room
    for user in ("@bot:localhost", "@l1:localhost", "@l2:localhost"):
        room.add_member(user, None, None)
    for user, device in (("@l1:localhost", "L1"), ("@l2:localhost", "L2")):
        client.olm.device_store.add(
            OlmDevice(user, device, {"ed25519": f"ed-{device}", "curve25519": f"cu-{device}"})
        )
    assert client.unshared_devices(room.room_id) == []  # no key yet: nio shares one first
    client.olm.create_outbound_group_session(room.room_id)
    session = client.olm.outbound_group_sessions[room.room_id]
    session.users_shared_with.add(("@l1:localhost", "L1"))
    session.shared = True
    # l2 came in while the key was being shared: reported, not sent under it.
    assert client.unshared_devices(room.room_id) == [("@l2:localhost", "L2")]
    with pytest.raises(nio_client.RoomKeyNotShared):
        client.encrypt(room.room_id, "m.room.message", {"body": "x"})
    # After the re-shares room_send allows, the message goes out all the same (and says so).
    lenient = nio_client._STRICT_ROOM_KEYS.set(False)
    try:
        assert client.encrypt(room.room_id, "m.room.message", {"body": "x"})[0] == (
            "m.room.encrypted"
        )
    finally:
        nio_client._STRICT_ROOM_KEYS.reset(lenient)
    # l2's device has no Olm session and its one-time key was asked for: nothing to wait for.
    client.claimed.add(("@l2:localhost", "L2"))
    assert client.unshared_devices(room.room_id) == []
    session.users_shared_with.add(("@l2:localhost", "L2"))
    assert client.encrypt(room.room_id, "m.room.message", {"body": "x"})[0] == "m.room.encrypted"


PNR = "19121212-1212"
POLL = "org.matrix.msc3381.poll.start"
TEXT = "org.matrix.msc1767.text"


def raw(kind: str, content: dict[str, Any], sender: str = "@doc:localhost") -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": "$shown",
        "sender": sender,
        "origin_server_ts": 1,
        "content": content,
    }


def poll_by(sender: str, question: str) -> dict[str, Any]:
    return raw(POLL, {POLL: {"question": {TEXT: question}, "answers": []}, TEXT: question}, sender)


HTML_ONLY = {"msgtype": "m.text", "format": "org.matrix.custom.html", "formatted_body": PNR}
# Events nio parses as something other than a message (BadEvent, UnknownBadEvent, StickerEvent,
# UnknownEvent), as they arrive in a room and as they come out of decryption.
SHOWN_ELSEWHERE = {
    "formatted_body without body": Event.parse_event(raw("m.room.message", HTML_ONLY)),
    "formatted_body without body, decrypted": Event.parse_decrypted_event(
        raw("m.room.message", HTML_ONLY)
    ),
    "body not a string": Event.parse_event(raw("m.room.message", {**HTML_ONLY, "body": 5})),
    "no timestamp either": Event.parse_decrypted_event(
        {k: v for k, v in raw("m.room.message", HTML_ONLY).items() if k != "origin_server_ts"}
    ),
    "sticker": Event.parse_event(raw("m.sticker", {"body": PNR, "url": "mxc://s/x"})),
    "encrypted sticker": Event.parse_decrypted_event(
        raw("m.sticker", {"body": PNR, "file": {"url": "mxc://s/x"}})
    ),
    "poll (Element)": Event.parse_decrypted_event(poll_by("@doc:localhost", f"Vem tar {PNR}?")),
    "poll (stable)": Event.parse_event(
        raw("m.poll.start", {"m.poll": {"question": {"m.text": [{"body": PNR}]}, "answers": []}})
    ),
}


class Inbox:
    """Records what the adapter hands the inbox."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.votes: list[IncomingVote] = []

    async def handle_message(self, message: IncomingMessage) -> None:
        self.messages.append(message)

    async def handle_vote(self, vote: IncomingVote) -> None:
        self.votes.append(vote)


@pytest.mark.parametrize("event", SHOWN_ELSEWHERE.values(), ids=SHOWN_ELSEWHERE.keys())
async def test_text_outside_a_readable_message_reaches_the_guard_read_only(
    tmp_path: Path, event: Any
) -> None:
    b = bot(tmp_path)
    with_room(b)
    inbox = Inbox()
    b.session.handler = inbox  # type: ignore[assignment]
    await b.sync.handle_event("!room:localhost", event)
    [message] = inbox.messages
    assert message.event_id == "$shown" and message.sender == "@doc:localhost"
    assert message.read_only and message.body == ""
    assert any(PNR in text for text in message.other_text)


async def test_the_bots_own_poll_is_not_read_and_votes_still_count(tmp_path: Path) -> None:
    b = bot(tmp_path)
    with_room(b)
    inbox = Inbox()
    b.session.handler = inbox  # type: ignore[assignment]
    own = poll_by("@bot:localhost", "Hur gick det?")
    for parse in (Event.parse_event, Event.parse_decrypted_event):
        await b.sync.handle_event("!room:localhost", parse(own))
    vote = {
        "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll"},
        "org.matrix.msc3381.poll.response": {"answers": ["advice"]},
    }
    await b.sync.handle_event(
        "!room:localhost", Event.parse_event(raw("org.matrix.msc3381.poll.response", vote))
    )
    assert inbox.messages == []
    [counted] = inbox.votes
    assert counted.poll == "$poll" and counted.outcome is Outcome.ADVICE


async def test_a_room_counts_as_joined_once_sync_shows_someone_besides_the_bot_joined(
    tmp_path: Path,
) -> None:
    """`joined_by_someone` (a consult room's name waits for it): an invitee is not enough, a
    join that sync shows is; with nobody joining it returns after its time."""
    b = bot(tmp_path)
    room = MatrixRoom("!consult:localhost", b.user_id, encrypted=True)
    room.add_member(b.user_id, None, None)
    room.add_member("@cons:localhost", None, None, invited=True)
    b.session.client = SimpleNamespace(rooms={room.room_id: room})  # type: ignore[assignment]

    waited = asyncio.get_running_loop().time()
    await b.joined_by_someone(room.room_id, 0.2)  # only invited: its whole time
    assert asyncio.get_running_loop().time() - waited >= 0.19

    waiting = asyncio.create_task(b.joined_by_someone(room.room_id, 30.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    room.invited_users.pop("@cons:localhost")  # the join, as nio records it
    await b.session.synced()
    async with asyncio.timeout(1):
        await waiting


async def test_a_room_named_so_already_is_not_named_again(tmp_path: Path) -> None:
    """At start-up the open consults' rooms are named again: one whose name and topic sync
    shows as wanted costs no request; another name is set."""
    b = bot(tmp_path)
    room = MatrixRoom("!consult:localhost", b.user_id, encrypted=True)
    room.name, room.topic = "K-000001 kardiologi", "Konsultation"
    rooms: dict[str, MatrixRoom] = {}
    b.session.client = SimpleNamespace(rooms=rooms)  # type: ignore[assignment]
    b.rooms.creators[room.room_id] = b.user_id
    put: list[tuple[str, dict[str, Any]]] = []

    async def put_state(room_id: str, kind: str, content: dict[str, Any]) -> None:
        put.append((kind, content))

    b.session.put_state = put_state  # type: ignore[method-assign]
    b.rooms.vet_any = lambda room_id: asyncio.sleep(0)  # type: ignore[method-assign]
    # Not known before the first sync (a start-up): it waits for sync to show the room.
    naming = asyncio.create_task(
        b.name_room(room.room_id, name="K-000001 kardiologi", topic="Konsultation")
    )
    await asyncio.sleep(0.05)
    assert not naming.done()
    rooms[room.room_id] = room
    await b.session.synced()
    async with asyncio.timeout(1):
        await naming
    assert put == []
    await b.name_room(room.room_id, name="K-000001 kardiologi", topic="Ny")
    assert sorted(kind for kind, _ in put) == ["m.room.name", "m.room.topic"]


async def test_devices_reported_changed_while_a_key_query_is_out_are_queried_again(
    tmp_path: Path,
) -> None:
    """A sync that says a consultant's devices changed (a phone logged in) while a key query
    for them is on its way: the answer, older than the change, must not take them off the
    list, or the new phone would never get a page's room key."""
    client = logged_in_client(tmp_path)
    consultant = "@cons:localhost"
    client.olm.users_for_key_query.add(consultant)
    answer = KeysQueryResponse.from_dict({"device_keys": {consultant: {}}, "failures": {}})

    async def send(*args: Any, **kwargs: Any) -> Any:
        client.olm.add_changed_users({consultant})  # the sync, while the question is out
        await client.receive_response(answer)
        return answer

    client._send = send  # type: ignore[method-assign]
    await client.keys_query()
    assert consultant in client.users_for_key_query

    async def quiet(*args: Any, **kwargs: Any) -> Any:
        await client.receive_response(answer)
        return answer

    client._send = quiet  # type: ignore[method-assign]
    await client.keys_query()  # asked again, nothing new meanwhile: done
    assert consultant not in client.users_for_key_query


async def test_two_key_queries_out_at_once_each_keep_the_changes_made_meanwhile(
    tmp_path: Path,
) -> None:
    """nio's own query (in `room_send`) can be out beside the bot's: the later one answers
    first, a sync marks the consultant in between, and the change is still queried again."""
    client = logged_in_client(tmp_path)
    consultant = "@cons:localhost"
    client.olm.users_for_key_query.add(consultant)
    answer = KeysQueryResponse.from_dict({"device_keys": {consultant: {}}, "failures": {}})
    first_out, second_done = asyncio.Event(), asyncio.Event()
    calls = 0

    async def send(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the first query: out until the second has its answer
            first_out.set()
            await second_done.wait()
            client.olm.add_changed_users({consultant})  # the sync, while the first is out
        await client.receive_response(answer)
        return answer

    client._send = send  # type: ignore[method-assign]
    first = asyncio.create_task(client.keys_query())
    await first_out.wait()
    await client.keys_query()  # the second, answered while the first is still out
    second_done.set()
    async with asyncio.timeout(1):
        await first
    assert consultant in client.users_for_key_query


async def test_a_pool_rooms_invites_wait_for_the_rest_of_the_sync_but_not_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst's requests come in one sync and are handled one after another: their pool
    rooms' invites go out together once the sync is handled (the homeserver takes invites that
    come together in one go), and a handling that does not end holds none up for long: each
    goes by `FILL_GATHER_SECONDS` after the handling began, well before the pages that wait
    for the invites stop waiting."""
    from consultbot.adapters.matrix import client as matrix_client
    from consultbot.engine.delivery import effects

    assert matrix_client.FILL_GATHER_SECONDS < effects.PAGES_AFTER_INVITES_SECONDS / 2
    b = bot(tmp_path)
    filled: list[str] = []

    async def fill(room: str, *, invite: Any) -> None:
        filled.append(room)

    b.provisioner.fill_room = fill  # type: ignore[method-assign]
    consultant = [UserId("@k:localhost")]
    loop = asyncio.get_running_loop()

    def handling(since: float) -> None:
        """A sync's events being handled since `since` (loop time)."""
        b.session.handled.clear()
        b.session.handling_since = since

    handling(loop.time())
    first = asyncio.create_task(b.fill_room("!a:localhost", invite=consultant))
    for _ in range(20):
        await asyncio.sleep(0)
    assert filled == []
    b.session.handled.set()
    await first
    assert filled == ["!a:localhost"]

    monkeypatch.setattr(matrix_client, "FILL_GATHER_SECONDS", 0.05)
    handling(loop.time())  # a handling that hangs
    async with asyncio.timeout(5):
        await b.fill_room("!b:localhost", invite=consultant)
    # A fill that comes once the handling has taken longer than that goes at once.
    handling(loop.time() - 1.0)
    late = asyncio.create_task(b.fill_room("!c:localhost", invite=consultant))
    for _ in range(20):
        await asyncio.sleep(0)
    assert late.done()
    assert filled == ["!a:localhost", "!b:localhost", "!c:localhost"]


@pytest.mark.parametrize("fails", [False, True])
async def test_a_sync_counts_as_being_handled_exactly_while_its_events_are(
    tmp_path: Path, fails: bool
) -> None:
    b = bot(tmp_path)
    seen: list[bool] = []

    class Client(StandbyClient):
        async def sync(self, **kwargs: Any) -> Any:
            seen.append(b.session.handled.is_set())  # the long poll holds no invite up
            return await super().sync(**kwargs)

    b.session.client = Client(to_device=[0])  # type: ignore[assignment]

    async def handle(response: Any, first: bool) -> bool:
        seen.append(b.session.handled.is_set())
        if fails:
            raise RuntimeError("a bug in the handling")
        return True

    def request(since: str | None, first: bool) -> dict[str, Any]:
        return {"timeout": 0, "since": since}

    if fails:
        with pytest.raises(RuntimeError):
            await b.sync._sync_until(None, request=request, handle=handle)
    else:
        await b.sync._sync_until(None, request=request, handle=handle)
    assert seen == [True, False] and b.session.handled.is_set()
