"""The who's-on board served by aiohttp's test server over in-memory data, with a homeserver
that knows a few passwords (`FakeLogin`): login, sessions and pages without a real Synapse
(the real one, in a real browser: tests/integration/test_board_browser.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from consultbot.adapters.memory import ManualClock, MemoryDataStore
from consultbot.config import WebConfig
from consultbot.domain.duty.handover import Handover, HandoverState
from consultbot.domain.duty.people import DirectoryEntry
from consultbot.domain.types import ServiceId, UserId
from consultbot.engine.web.changes import Changes
from consultbot.engine.web.context import Board
from consultbot.engine.web.server import make_app
from consultbot.ports.login import HomeserverBusy, HomeserverLogin
from tests.support.bots import K1A, K2, NOW, day_data, make_config

PASSWORDS = {"@anna:localhost": "rätt lösen", "@admin:localhost": "admin lösen"}
DIRECTORY = (
    DirectoryEntry(
        unit="Falu lasarett",
        name="Falu lasarett, växel",
        phone="023-49 00 00",
        municipality="Falun",
    ),
    DirectoryEntry(
        unit="Hemsjukvård",
        name="Hemsjukvården Älvdalen",
        phone="0251-800 00",
        municipality="Älvdalen",
        notes="Dygnet runt",
    ),
    DirectoryEntry(unit="1177", name="1177 Vårdguiden", phone="1177"),
)


class FakeLogin(HomeserverLogin):
    """A homeserver that knows `PASSWORDS`; it remembers every user it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.sso = False
        self.busy = False  # the homeserver's own login limit (HTTP 429)

    async def offers_sso(self) -> bool:
        return self.sso

    async def password_login(self, user: str, password: str) -> str | None:
        self.asked.append(user)
        if self.busy:
            raise HomeserverBusy("429")
        return user if PASSWORDS.get(user) == password else None

    async def token_login(self, token: str) -> str | None:
        return token.removeprefix("token-") or None

    def sso_redirect(self, return_to: str) -> str:
        return "https://matrix.example/sso?redirectUrl=" + return_to


async def seeded() -> MemoryDataStore:
    data = await day_data()
    await data.import_directory(DIRECTORY, source="test", now=NOW)
    return data


def handover(**fields: Any) -> Handover:
    values: dict[str, Any] = dict(
        id=0,
        service=ServiceId("kardiologi"),
        level=2,
        giver=K2,
        taker=UserId(K1A),
        taker_name="Karin Kardio",
        taker_phone="070-111 11 11",
        start=NOW,
        end=NOW + timedelta(hours=2),
        offered_by=K2,
        offered_at=NOW,
        answer_by=None,
        state=HandoverState.ACCEPTED,
        decided_at=NOW,
    )
    return Handover(**{**values, **fields})


class Site:
    """The board under test: its parts and an HTTP client that keeps cookies."""

    def __init__(self, board: Board, client: TestClient[web.Request, web.Application]) -> None:
        self.board = board
        self.client = client
        self.login = board.login
        assert isinstance(self.login, FakeLogin)
        self.fake = self.login

    async def get(self, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("allow_redirects", False)
        headers = {"Accept": "text/html", **kwargs.pop("headers", {})}
        return await self.client.get(path, headers=headers, **kwargs)

    async def form_token(self) -> str:
        answer = await self.get("/login")
        text = await answer.text()
        return text.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    async def log_in(self, user: str, password: str, **kwargs: Any) -> Any:
        token = await self.form_token()
        form = {"csrf": token, "user": user, "password": password}
        return await self.client.post("/login", data=form, allow_redirects=False, **kwargs)


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Site]:
    config = make_config()
    config = replace(config, web=WebConfig(host="127.0.0.1", port=0, session_seconds=3600))
    board = Board(
        config=config,
        data=await seeded(),
        login=FakeLogin(),
        changes=Changes(),
        clock=ManualClock(NOW),
    )
    async with TestClient(TestServer(make_app(board))) as client:
        yield Site(board, client)
