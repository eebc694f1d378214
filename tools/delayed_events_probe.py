"""Probe MSC4140 delayed events on the real (embedded) Synapse, as the bot would use them.

    python tools/delayed_events_probe.py [--no-js] [--json out.json]

Starts one embedded Synapse (devkit; `max_event_delay_duration` set by synapse_config.py),
registers a bot and members, makes an encrypted room, and measures, printing one line per
finding (and a JSON summary with --json):

  a  a plain m.notice scheduled with a 10 s delay is posted after ~10 s
  b  restarting it (every 5 s, three times) postpones it: posted ~10 s after the last restart
  c  cancelling it prevents it
  d  an encrypted notice (encrypted with the bot's current Megolm session when scheduled, then
     scheduled as m.room.encrypted through the raw endpoint): who can read it when it is
     posted: a member at scheduling time (nio, and matrix-js-sdk with Rust crypto, the
     Element stack) and members who joined after it was scheduled (nio and JS), after the bot
     has sent an ordinary message (so they hold the same session from a later index)
  e  how a plain m.notice in an encrypted room looks to nio and to the JS client
  f  a second device of the same bot user (a standby) lists the first device's delayed
     events, restarts one and cancels another; a restart without any access token
  g  a delayed event whose device has logged out (device and token deleted) is still posted;
     an encrypted one from a logged-out device is still readable by members
  h  the same transaction id twice gives the same delay_id; the management rate limit
     (rc_delayed_event_mgmt at Synapse's default, 1/s burst 5) on a burst of restarts;
     the sender-only unsigned `org.matrix.msc4140.delay_id`; /versions and /capabilities

One Synapse, a few clients; about a minute and a half of wall time, mostly waiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from consultbot.devkit import synapse_config  # noqa: E402
from consultbot.devkit.matrix_user import MatrixUser, Seen  # noqa: E402
from consultbot.devkit.synapse import EmbeddedHomeserver  # noqa: E402

UNSTABLE = "/_matrix/client/unstable/org.matrix.msc4140"
DELAY_PARAM = "org.matrix.msc4140.delay"
NOTICE = "Konsultboten svarar inte just nu. Ring växeln 023-49 00 00."

results: dict[str, Any] = {}


def report(key: str, value: Any) -> None:
    results[key] = value
    print(f"{key}: {json.dumps(value, ensure_ascii=False)}", flush=True)


class Http:
    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def call(
        self,
        method: str,
        path: str,
        token: str | None,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for attempt in range(3):  # a kept-alive connection may be dead after a restart
            try:
                async with self.session.request(
                    method, self.base + path, json=body, params=params, headers=headers
                ) as response:
                    data = await response.json(content_type=None)
                    return response.status, data if isinstance(data, dict) else {}
            except aiohttp.ClientConnectionError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def schedule(
        self,
        token: str,
        room: str,
        event_type: str,
        content: dict[str, Any],
        delay_ms: int,
        txn: str | None = None,
    ) -> tuple[str, float]:
        """PUT …/send/{type}/{txn}?org.matrix.msc4140.delay=ms → (delay_id, time scheduled)."""
        txn = txn or uuid.uuid4().hex
        path = f"/_matrix/client/v3/rooms/{quote(room)}/send/{quote(event_type)}/{txn}"
        status, body = await self.call(
            "PUT", path, token, content, params={DELAY_PARAM: str(delay_ms)}
        )
        assert status == 200 and "delay_id" in body, (status, body)
        return str(body["delay_id"]), time.time()

    async def manage(self, token: str | None, delay_id: str, action: str) -> tuple[int, Any]:
        """POST …/delayed_events/{id} {"action": …} (the form every Synapse since 1.114 has)."""
        return await self.call(
            "POST", f"{UNSTABLE}/delayed_events/{quote(delay_id)}", token, {"action": action}
        )

    async def close(self) -> None:
        await self.session.close()


def marker_match(room: str, marker: str) -> Any:
    return lambda s: s.room == room and s.kind == "message" and marker in s.body


async def seen_within(user: MatrixUser, room: str, marker: str, seconds: float) -> Seen | None:
    with contextlib.suppress(TimeoutError):
        return await user.wait_for(marker_match(room, marker), seconds)
    return None


async def encrypted_content(bot: MatrixUser, room: str, content: dict[str, Any]) -> dict[str, Any]:
    """What nio's room_send would put on the wire: the content encrypted with the bot's
    current outbound Megolm session (shared first with every member device nio knows)."""
    client = bot.client
    if not client.rooms[room].members_synced:
        await client.joined_members(room)
    with contextlib.suppress(Exception):
        if client.should_query_keys:
            await client.keys_query()
    if client.olm.should_share_group_session(room):
        await client.share_group_session(room, ignore_unverified_devices=True)
    event_type, encrypted = client.encrypt(room, "m.room.message", content)
    assert event_type == "m.room.encrypted"
    return dict(encrypted)


async def device_known(bot: MatrixUser, user_id: str, device_id: str, seconds: float = 30) -> None:
    async def check() -> bool:
        with contextlib.suppress(Exception):
            if bot.client.should_query_keys:
                await bot.client.keys_query()
        return any(d.id == device_id for d in bot.client.device_store.active_user_devices(user_id))

    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polling the homeserver: no event to wait on
            await asyncio.sleep(0.3)


async def invite_and_join_nio(bot: MatrixUser, member: MatrixUser, room: str) -> None:
    await bot.client.room_invite(room, member.user_id)
    await member.wait_for(lambda s: s.kind == "invite" and s.room == room, 30)
    await member.join(room)
    await bot.wait_until(
        lambda: (
            member.user_id in bot.client.rooms[room].users
            and member.user_id not in bot.client.rooms[room].invited_users
        )
    )
    await device_known(bot, member.user_id, member.client.device_id)


async def invite_and_join_js(bot: MatrixUser, js: Any, room: str) -> None:
    await bot.client.room_invite(room, js.user_id)
    await js.wait_for(lambda e: e["type"] == "invite" and e["room_id"] == room, timeout=30)
    await js.join(room)
    await bot.wait_until(
        lambda: (
            js.user_id in bot.client.rooms[room].users
            and js.user_id not in bot.client.rooms[room].invited_users
        )
    )
    await device_known(bot, js.user_id, js.device_id)


def js_events(js: Any, event_id: str) -> list[dict[str, Any]]:
    """Every message event the JS client reported for `event_id` (buffered so far)."""
    return [e for e in js._buffer if e.get("event_id") == event_id]


async def js_outcome(js: Any, event_id: str, seconds: float) -> dict[str, Any]:
    """Wait up to `seconds` for the JS client to decrypt `event_id`; the last report."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(Exception):
            await js.wait_for(lambda e: False, timeout=0.5)  # pump stdout into the buffer
        reports = js_events(js, event_id)
        ok = [e for e in reports if e.get("type") == "message" and not e.get("decryption_failed")]
        if ok or time.monotonic() > deadline:
            last = (ok or reports or [{}])[-1]
            return {
                "reported": bool(reports),
                "decrypted": bool(ok),
                "encrypted": last.get("encrypted"),
                "msgtype": last.get("msgtype"),
                "failure_reason": last.get("failure_reason"),
                "body_ok": bool(ok) and "probe" in (last.get("body") or ""),
                "shield": await js_shield(js, last.get("room_id"), event_id) if ok else None,
            }


async def js_shield(js: Any, room: str | None, event_id: str) -> Any:
    """Element's padlock for the event: the Rust crypto's shield colour and reason
    (colour 0 none, 1 grey, 2 red; reason as matrix-js-sdk's EventShieldReason numbers)."""
    try:
        answer = await js.request({"cmd": "shield", "room_id": room, "event_id": event_id})
    except Exception as error:  # a probe reports, it does not stop
        return f"error: {error}"[:200]
    return {k: answer[k] for k in ("encrypted", "room_encrypted", "colour", "reason")}


def nio_outcome(user: MatrixUser, room: str, event_id: str) -> str:
    kinds = [s for s in user.seen if s.room == room and s.event_id == event_id]
    if any(s.kind == "message" for s in kinds):
        return "decrypted" if any(s.encrypted for s in kinds) else "cleartext"
    if any(s.kind == "undecryptable" for s in kinds):
        return "undecryptable"
    return "not seen"


async def main(use_js: bool) -> None:
    # Synapse's default for the management rate limit (1/s, burst 5), not the test relaxation.
    synapse_config._RELAXED_RATE_LIMITS.pop("rc_delayed_event_mgmt", None)
    folder = Path(tempfile.mkdtemp(prefix="delayed-probe-"))
    print(f"folder: {folder}", flush=True)
    port = 0
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hs = EmbeddedHomeserver(
        data_dir=folder / "synapse", port=port, relax_rate_limits=True, fast_passwords=True
    )
    await hs.start()
    http = Http(hs.url)
    clients: list[Any] = []
    try:
        status, versions = await http.call("GET", "/_matrix/client/versions", None)
        report(
            "versions.unstable_features[org.matrix.msc4140]",
            versions.get("unstable_features", {}).get("org.matrix.msc4140"),
        )
        tag = secrets.token_hex(3)
        users: dict[str, tuple[str, str]] = {}
        for name in ("bot", "alice", "bob", "carol", "dave"):
            password = secrets.token_urlsafe(12)
            users[name] = (await hs.register_user(f"{name}-{tag}", password), password)
        bot = MatrixUser(hs.url, *users["bot"], folder / "clients" / "bot")
        alice = MatrixUser(hs.url, *users["alice"], folder / "clients" / "alice")
        bob = MatrixUser(hs.url, *users["bob"], folder / "clients" / "bob")
        for u in (bot, alice, bob):
            clients.append(u)
            await u.start()
        token = bot.client.access_token
        status, caps = await http.call("GET", "/_matrix/client/v3/capabilities", token)
        report(
            "capabilities[org.matrix.msc4140.delayed_events]",
            caps.get("capabilities", {}).get("org.matrix.msc4140.delayed_events"),
        )

        carol = dave = None
        if use_js:
            from js import JsClient  # tests/integration/js.py

            carol = await JsClient.start(hs.url, *users["carol"], log_path=folder / "carol.log")
            clients.append(carol)
            dave = await JsClient.start(hs.url, *users["dave"], log_path=folder / "dave.log")
            clients.append(dave)

        # An encrypted room as the bot makes them; alice (and carol) in it before scheduling.
        room = await bot.create_dm(alice.user_id, wait=False)
        await alice.wait_for(lambda s: s.kind == "invite" and s.room == room, 30)
        await alice.join(room)
        await bot.wait_until(lambda: room in bot.client.rooms)
        await bot.wait_until(
            lambda: (
                alice.user_id in bot.client.rooms[room].users
                and alice.user_id not in bot.client.rooms[room].invited_users
            )
        )
        await device_known(bot, alice.user_id, alice.client.device_id)
        if carol is not None:
            await invite_and_join_js(bot, carol, room)
        await bot.send_text(room, "probe: room ready")
        report("room.encrypted", bot.client.rooms[room].encrypted)

        def notice(marker: str) -> dict[str, Any]:
            return {"msgtype": "m.notice", "body": f"{NOTICE} [probe {marker}]"}

        # -- a, b, c, d, f, u scheduled together ------------------------------------------
        ms = 10_000
        id_a, t_a = await http.schedule(token, room, "m.room.message", notice("A"), ms)
        id_b, t_b = await http.schedule(token, room, "m.room.message", notice("B"), ms)
        id_c, t_c = await http.schedule(token, room, "m.room.message", notice("C"), ms)
        d_content = await encrypted_content(bot, room, notice("D"))
        id_d, t_d = await http.schedule(token, room, "m.room.encrypted", d_content, 30_000)
        id_f, t_f = await http.schedule(token, room, "m.room.message", notice("F"), ms)
        id_f2, _ = await http.schedule(token, room, "m.room.message", notice("F2"), ms)
        id_u, t_u = await http.schedule(token, room, "m.room.message", notice("U"), ms)
        report("delay_id form", id_a)

        # The standby: a second device of the same user, plain HTTP.
        status, login = await http.call(
            "POST",
            "/_matrix/client/v3/login",
            None,
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": users["bot"][0]},
                "password": users["bot"][1],
                "device_id": "STANDBY",
            },
        )
        standby = str(login["access_token"])
        status, listing = await http.call("GET", f"{UNSTABLE}/delayed_events", standby)
        listed = {e["delay_id"] for e in listing.get("delayed_events", [])}
        report(
            "f.standby lists the active device's delayed events",
            {
                "status": status,
                "sees_all_7": {id_a, id_b, id_c, id_d, id_f, id_f2, id_u} <= listed,
                "fields": sorted(listing.get("delayed_events", [{}])[0].keys()),
            },
        )
        status, one = await http.call("GET", f"{UNSTABLE}/delayed_events/{id_a}", standby)
        report("f.GET one (standby)", {"status": status, "keys": sorted(one)})
        # Another user cannot see it in a listing.
        status, other = await http.call(
            "GET", f"{UNSTABLE}/delayed_events", alice.client.access_token
        )
        report(
            "f.another user's listing",
            {"status": status, "count": len(other.get("delayed_events", []))},
        )

        # -- arrival of a post at alice (local clock: origin_server_ts is the due time) -
        async def arrival(marker: str, scheduled: float, seconds: float) -> dict[str, Any]:
            seen = await seen_within(alice, room, f"[probe {marker}]", seconds)
            if seen is None:
                return {"posted": False}
            ts = seen.source.get("origin_server_ts", 0) / 1000
            return {
                "posted": True,
                "origin_server_ts_after_s": round(ts - scheduled, 2),
                "seen_after_s": round(time.time() - scheduled, 2),
                "event_id": seen.event_id,
                "encrypted": seen.encrypted,
                "msgtype": seen.msgtype,
                "sender": seen.sender,
            }

        async def script() -> dict[str, Any]:
            out: dict[str, Any] = {}
            await asyncio.sleep(3)
            out["c.cancel"] = await http.manage(token, id_c, "cancel")
            out["f.standby cancels F2"] = await http.manage(standby, id_f2, "cancel")
            await asyncio.sleep(2)
            out["b.restart@5"] = await http.manage(token, id_b, "restart")
            out["f.standby restart F@5"] = await http.manage(standby, id_f, "restart")
            out["u.restart without token@5"] = await http.manage(None, id_u, "restart")
            await asyncio.sleep(5)
            out["b.restart@10"] = await http.manage(token, id_b, "restart")
            out["f.standby restart F@10"] = await http.manage(standby, id_f, "restart")
            await asyncio.sleep(5)
            out["b.restart@15"] = await http.manage(token, id_b, "restart")
            return out

        async def late_joiners() -> None:
            # Bob (nio) and dave (JS) join after D was scheduled; then the bot talks, which
            # shares its (unchanged) outbound session with them from a later message index.
            await invite_and_join_nio(bot, bob, room)
            if dave is not None:
                await invite_and_join_js(bot, dave, room)
            await bot.send_text(room, "probe: after the late joiners")

        watchers = {
            key: asyncio.create_task(arrival(key, when, 45))
            for key, when in (
                ("A", t_a),
                ("B", t_b),
                ("C", t_c),
                ("F", t_f),
                ("F2", t_f),
                ("U", t_u),
            )
        }
        actions, _ = await asyncio.gather(script(), late_joiners())
        for key, value in actions.items():
            report(key, value)

        a, b, c, f, f2, u = [await watchers[k] for k in ("A", "B", "C", "F", "F2", "U")]
        report("a.plain 10 s, not restarted", a)
        report("b.restarted at 5, 10, 15 s", b)
        report("c.cancelled at 3 s", c)
        report("f.F restarted by the standby at 5, 10 s", f)
        report("f.F2 cancelled by the standby", f2)
        report("u.restarted at 5 s with no access token", u)

        # e: the plain notice, as each client sees it.
        if a.get("posted"):
            e = {"nio (alice)": nio_outcome(alice, room, a["event_id"])}
            src = next(s.source for s in alice.seen if s.event_id == a["event_id"])
            e["alice unsigned"] = src.get("unsigned", {})
            bot_seen = await seen_within(bot, room, "[probe A]", 10)
            e["bot (sender) unsigned"] = bot_seen.source.get("unsigned", {}) if bot_seen else None
            e["origin_server_ts - scheduled (s)"] = a["origin_server_ts_after_s"]
            if carol is not None:
                e["js (carol)"] = await js_outcome(carol, a["event_id"], 10)
            report("e.plain m.notice in an encrypted room", e)

        # d: the encrypted one.
        d_bot = await seen_within(bot, room, "[probe D]", 45)
        d: dict[str, Any] = {"posted": d_bot is not None}
        if d_bot is not None:
            eid = d_bot.event_id
            d["origin_server_ts_after_s"] = round(
                d_bot.source.get("origin_server_ts", 0) / 1000 - t_d, 2
            )
            await asyncio.sleep(8)  # time for key requests / retries
            d["alice (nio, member when scheduled)"] = nio_outcome(alice, room, eid)
            d["bob (nio, joined after)"] = nio_outcome(bob, room, eid)
            if carol is not None:
                d["carol (JS, member when scheduled)"] = await js_outcome(carol, eid, 5)
            if dave is not None:
                d["dave (JS, joined after)"] = await js_outcome(dave, eid, 5)
        report("d.encrypted delayed notice (30 s)", d)

        # -- h: txn idempotency, rate limit --------------------------------------------------
        txn = uuid.uuid4().hex
        h1, _ = await http.schedule(token, room, "m.room.message", notice("H"), 60_000, txn=txn)
        h2, _ = await http.schedule(token, room, "m.room.message", notice("H"), 60_000, txn=txn)
        report("h.same txn id twice → same delay_id", h1 == h2)
        await asyncio.sleep(6)  # let the bucket drain
        codes = []
        started = time.monotonic()
        for _ in range(12):
            status, body = await http.manage(token, h1, "restart")
            codes.append((status, body.get("retry_after_ms")) if status != 200 else 200)
        report(
            "h.12 back-to-back restarts (default rc_delayed_event_mgmt)",
            {"answers": codes, "seconds": round(time.monotonic() - started, 2)},
        )
        # The admin API's rate-limit exemption (what the production docs tell admins to set for
        # the bot: messages_per_second 0) also lifts the management limit.
        admin_password = secrets.token_urlsafe(12)
        admin_id = await hs.register_user(f"admin-{tag}", admin_password, admin=True)
        admin_token = await hs.login(admin_id, admin_password)
        await hs.exempt_from_rate_limits(users["bot"][0], admin_token)
        codes = []
        for _ in range(12):
            status, body = await http.manage(token, h1, "restart")
            codes.append((status, body.get("retry_after_ms")) if status != 200 else 200)
        report("h.12 back-to-back restarts after override_ratelimit(0, 0)", codes)
        report("h.cancel", await http.manage(token, h1, "cancel"))
        # The per-user cap (experimental_features.msc4140_max_delayed_events_per_user, 100).
        ids: list[str] = []
        refusal: Any = None
        for n in range(150):
            path = f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}"
            status, body = await http.call(
                "PUT", path, token, notice(f"cap{n}"), params={DELAY_PARAM: str(600_000)}
            )
            if status != 200:
                refusal = {"after": n, "status": status, **body}
                break
            ids.append(body["delay_id"])
        status, listing = await http.call("GET", f"{UNSTABLE}/delayed_events", standby)
        refusal = {**(refusal or {}), "listed": len(listing.get("delayed_events", []))}
        report("h.how many may be scheduled at once (all devices of the user)", refusal)
        for delay_id in ids:
            await http.manage(token, delay_id, "cancel")
        await asyncio.sleep(1.5)
        report("h.cancel again (already gone)", await http.manage(token, h1, "cancel"))
        status, body = await http.call(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{uuid.uuid4().hex}",
            token,
            notice("X"),
            params={DELAY_PARAM: str(2 * 3600 * 1000)},
        )
        report("h.delay above max_event_delay_duration (2 h > 1 h)", {"status": status, **body})

        # -- s: Synapse stops before a delayed event is due and starts after ------------------
        status, _ = await http.call("POST", f"{UNSTABLE}/delayed_events/{id_a}/restart", token)
        report("s.POST …/delayed_events/{id}/restart on a sent one", status)
        _, t_s = await http.schedule(token, room, "m.room.message", notice("S"), 5_000)
        id_s2, _ = await http.schedule(token, room, "m.room.message", notice("S2"), 30_000)
        await hs.stop()
        down = time.time()
        await asyncio.sleep(10)
        await hs.start()
        up = time.time()
        report("s.Synapse down (s after scheduling)", [round(down - t_s, 2), round(up - t_s, 2)])
        s_seen = await arrival("S", t_s, 40)
        report("s.5 s notice due while Synapse was down", s_seen)
        report(
            "s.30 s notice still pending after the restart",
            (await http.call("GET", f"{UNSTABLE}/delayed_events/{id_s2}", token))[0],
        )
        report("s.cancel it", (await http.manage(token, id_s2, "cancel"))[0])

        # -- g: the device logs out before its delayed events are due ------------------------
        status, login = await http.call(
            "POST",
            "/_matrix/client/v3/login",
            None,
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": users["bot"][0]},
                "password": users["bot"][1],
                "device_id": "GONE",
            },
        )
        gone = str(login["access_token"])
        _, t_g = await http.schedule(gone, room, "m.room.message", notice("G"), 8_000)
        status, _ = await http.call("POST", "/_matrix/client/v3/logout", gone, {})
        report("g.logout of the scheduling device", status)
        # And the main bot device: an encrypted one, then log out (device and keys deleted).
        m_content = await encrypted_content(bot, room, notice("M"))
        _, t_m = await http.schedule(token, room, "m.room.encrypted", m_content, 8_000)
        bot_device = bot.client.device_id
        await bot.close()
        clients.remove(bot)
        status, _ = await http.call("POST", "/_matrix/client/v3/logout", token, {})
        report("g.logout of the bot's main device (after scheduling encrypted M)", status)
        status, devices = await http.call("GET", "/_matrix/client/v3/devices", standby)
        report(
            "g.bot devices left",
            [d["device_id"] for d in devices.get("devices", [])] + [f"(main was {bot_device})"],
        )
        g = await arrival("G", t_g, 30)
        report("g.plain notice from a logged-out device", g)
        m = await arrival("M", t_m, 30)
        if m.get("posted"):
            m["alice (nio)"] = nio_outcome(alice, room, m["event_id"])
            m["bob (nio)"] = nio_outcome(bob, room, m["event_id"])
            m["sender device in content"] = m_content.get("device_id")
            if carol is not None:
                m["carol (JS)"] = await js_outcome(carol, m["event_id"], 8)
        else:
            # Alice may not decrypt it; look for it as undecryptable.
            m["alice saw undecryptable"] = [
                s.event_id for s in alice.seen if s.kind == "undecryptable" and s.room == room
            ]
        report("g.encrypted notice from a logged-out device", m)
        status, listing = await http.call("GET", f"{UNSTABLE}/delayed_events", standby)
        report("left scheduled", len(listing.get("delayed_events", [])))
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                await c.close()
        await http.close()
        await hs.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-js", action="store_true", help="skip the matrix-js-sdk clients")
    parser.add_argument("--json", type=Path, help="write the findings as JSON here")
    args = parser.parse_args()
    asyncio.run(main(not args.no_js))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
