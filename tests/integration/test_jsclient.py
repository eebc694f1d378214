"""The Element-stack test client works: matrix-js-sdk with Rust crypto talks E2EE with nio.

No bot here: a nio user pages the JS user in an encrypted room, the JS client decrypts the
page and acknowledges it with a ✅ reaction, which the nio user receives.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from nio import RoomSendResponse

from consultbot.devkit.synapse import EmbeddedHomeserver

from .js import JsClient, install_node_modules, node_available

if TYPE_CHECKING:
    from .conftest import MatrixUserFactory, NewUser

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SYNC_TIMEOUT = 30.0
JsClientFactory = Callable[[str, str], Awaitable[JsClient]]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def jsclient_installed() -> None:
    """``npm ci`` for the JS client once per session, if node_modules is missing or stale."""
    if not node_available():
        pytest.fail("node and npm are needed for the Element-stack (matrix-js-sdk) tests")
    await install_node_modules()


@pytest_asyncio.fixture
async def js_client(
    jsclient_installed: None, homeserver: EmbeddedHomeserver, tmp_path: Path
) -> AsyncIterator[JsClientFactory]:
    """Factory: ``await js_client(user_id, password)`` gives a ready JsClient; closed at the end."""
    clients: list[JsClient] = []

    async def start(user_id: str, password: str) -> JsClient:
        log_path = tmp_path / f"jsclient-{len(clients)}.log"
        client = await JsClient.start(homeserver.url, user_id, password, log_path=log_path)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


def bot_text(bot: str, room: str) -> Callable[[dict[str, Any]], bool]:
    """An m.text from the bot in `room`, as the JS client reports it: a page."""
    return lambda e: (
        e["type"] == "message"
        and e["room_id"] == room
        and e["sender"] == bot
        and e["msgtype"] == "m.text"
    )


async def test_js_client_decrypts_a_page_and_reacts(
    new_user: NewUser, matrix_user: MatrixUserFactory, js_client: JsClientFactory
) -> None:
    pager_id, pager_password = await new_user()
    consultant_id, consultant_password = await new_user()
    pager = await matrix_user(pager_id, pager_password)
    consultant = await js_client(consultant_id, consultant_password)
    assert consultant.user_id == consultant_id

    room_id = await pager.create_dm(consultant_id, wait=False)

    invite = await consultant.wait_for(lambda e: e["type"] == "invite" and e["room_id"] == room_id)
    assert invite["inviter"] == pager_id
    joined = await consultant.join(room_id)
    assert joined["encrypted"] is True

    # The room key goes only to devices nio knows when it sends (see MATRIX-NOTES): wait
    # until the pager's client has seen the join and fetched the consultant's device keys.
    def consultant_device_known() -> bool:
        room = pager.client.rooms.get(room_id)
        if room is None or consultant_id not in room.users:
            return False
        devices = pager.client.device_store.active_user_devices(consultant_id)
        return any(device.id == consultant.device_id for device in devices)

    await pager.wait_until(consultant_device_known, SYNC_TIMEOUT)
    assert pager.client.rooms[room_id].encrypted

    body = f"Konsultation: kan du ringa avdelning 12? {uuid.uuid4()}"
    pill = f'<a href="https://matrix.to/#/{consultant_id}">Konsulten</a>'
    sent = await pager.client.room_send(
        room_id,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": f"{pill}: {body}",
            "m.mentions": {"user_ids": [consultant_id]},
        },
        ignore_unverified_devices=True,
    )
    assert isinstance(sent, RoomSendResponse), sent

    message = await consultant.wait_for(
        lambda e: e["type"] == "message" and e["event_id"] == sent.event_id
    )
    assert message["decryption_failed"] is False, message
    assert message["encrypted"] is True
    assert message["sender"] == pager_id
    assert message["msgtype"] == "m.text"
    assert message["body"] == body
    assert pill in message["formatted_body"]
    assert message["mentions"] == {"user_ids": [consultant_id]}

    reaction_id = await consultant.react(room_id, sent.event_id, "✅")

    # An encrypted reaction that came before its room key is decrypted once the key is in.
    reaction = await pager.wait_for(
        lambda s: s.kind == "reaction" and s.event_id == reaction_id, SYNC_TIMEOUT
    )
    assert reaction.sender == consultant_id
    assert reaction.reacts_to == sent.event_id
    assert reaction.key == "✅"
    # matrix-js-sdk (so Element) sends reactions in the clear even in encrypted rooms: its
    # MatrixClient.shouldEncryptEventForRoom skips m.reaction. Other clients may encrypt them,
    # which is why MatrixUser decrypts encrypted reactions too.
    assert not reaction.encrypted, "matrix-js-sdk now encrypts reactions"


async def test_js_client_creates_an_encrypted_dm_that_nio_can_read(
    new_user: NewUser, matrix_user: MatrixUserFactory, js_client: JsClientFactory
) -> None:
    consultant_id, consultant_password = await new_user()
    colleague_id, colleague_password = await new_user()
    consultant = await js_client(consultant_id, consultant_password)
    colleague = await matrix_user(colleague_id, colleague_password)

    room_id = await consultant.create_dm(colleague_id)
    await colleague.wait_for(lambda s: s.kind == "invite" and s.room == room_id, SYNC_TIMEOUT)
    await colleague.join(room_id)
    # The JS client shares the room key with the members it knows when it sends.
    await consultant.wait_for(
        lambda e: (
            e["type"] == "member"
            and e["room_id"] == room_id
            and e["user_id"] == colleague_id
            and e["membership"] == "join"
        )
    )

    body = f"Ringer dig om fem minuter {uuid.uuid4()}"
    event_id = await consultant.send_text(room_id, body)

    message = await colleague.wait_for(
        lambda s: s.kind == "message" and s.event_id == event_id, SYNC_TIMEOUT
    )
    assert message.body == body
    assert message.sender == consultant_id
    assert message.encrypted
    assert colleague.client.rooms[room_id].encrypted


async def test_element_consultant_decrypts_the_page_and_acknowledges_with_a_reaction(
    homeserver: EmbeddedHomeserver, tmp_path: Path, js_client: JsClientFactory
) -> None:
    """The consultant uses Element's crypto (matrix-sdk-crypto via matrix-js-sdk), not nio."""
    from consultbot.app import running_bot

    from .harness import QUESTION, ask, join_invite, world

    async with world(homeserver, tmp_path, "doctor", "jsl1") as w:
        consultant = w.people["jsl1"]
        js = await js_client(consultant.user_id, consultant.password)
        config = w.config(ack_timeout=120)
        await w.seed(config, {1: ["jsl1"]})
        async with running_bot(config):
            dm, number = await ask(w)
            invite = await js.wait_for(lambda e: e["type"] == "invite", timeout=SYNC_TIMEOUT)
            room = invite["room_id"]
            await js.join(room)
            page = await js.wait_for(
                bot_text(w.bot_id, room),
                timeout=SYNC_TIMEOUT,
            )
            assert page["encrypted"] and not page["decryption_failed"]
            assert QUESTION in page["body"]
            assert page["mentions"].get("user_ids") == [consultant.user_id]
            await js.react(room, page["event_id"], "👍")
            doctor = w.people["doctor"].c
            await join_invite(doctor)  # invited after the page
            await doctor.wait_for(
                lambda s: s.room == room and s.sender == w.bot_id and "har kvitterat" in s.body,
                SYNC_TIMEOUT,
            )
            assert number == "K-000001" and dm


async def test_element_requester_reads_the_page_sent_before_their_invite(
    homeserver: EmbeddedHomeserver, tmp_path: Path, js_client: JsClientFactory
) -> None:
    """The requester is invited into the consult room after the page (docs/decisions.md,
    "Pages before bookkeeping"): the page's room key went to their devices with it, before
    they were a member. Element's crypto (matrix-sdk-crypto) must still decrypt the page."""
    from consultbot.app import running_bot

    from .harness import QUESTION, world

    async with world(homeserver, tmp_path, "jsdoc", "l1") as w:
        requester = w.people["jsdoc"]
        js = await js_client(requester.user_id, requester.password)
        config = w.config(ack_timeout=120)
        await w.seed(config, {1: ["l1"]}, units={"jsdoc": "vc-mora"})
        async with running_bot(config):
            dm = await js.create_dm(w.bot_id)
            await js.wait_for(
                lambda e: (
                    e["type"] == "member"
                    and e["room_id"] == dm
                    and e["user_id"] == w.bot_id
                    and e["membership"] == "join"
                ),
                timeout=SYNC_TIMEOUT,
            )
            await js.send_text(dm, f"!konsult kardiologi {QUESTION}")
            l1 = w.people["l1"].c
            paged = await l1.wait_for(lambda s: s.kind == "invite", SYNC_TIMEOUT)
            await l1.join(paged.room)
            invite = await js.wait_for(
                lambda e: e["type"] == "invite" and e["room_id"] == paged.room,
                timeout=SYNC_TIMEOUT,
            )
            await js.join(invite["room_id"])
            page = await js.wait_for(
                bot_text(w.bot_id, paged.room),
                timeout=SYNC_TIMEOUT,
            )
            assert page["encrypted"] and not page["decryption_failed"]
            assert QUESTION in page["body"]
            # The consultant reads it too, and the requester reads the consultant's answer.
            seen = await l1.wait_for(
                lambda s: s.kind == "message" and s.room == paged.room and s.sender == w.bot_id,
                SYNC_TIMEOUT,
            )
            assert seen.encrypted and QUESTION in seen.body
            await l1.wait_for(
                lambda s: (
                    s.kind == "join" and s.room == paged.room and s.sender == requester.user_id
                ),
                SYNC_TIMEOUT,
            )
            said = await l1.send_text(paged.room, "Ring mig på avdelningen.")
            answer = await js.wait_for(
                lambda e: e["type"] == "message" and e.get("event_id") == said,
                timeout=SYNC_TIMEOUT,
            )
            assert answer["body"] == "Ring mig på avdelningen." and not answer["decryption_failed"]
