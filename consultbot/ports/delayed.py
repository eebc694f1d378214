"""The delayed-notice port: a message the homeserver posts itself unless the bot keeps
postponing it (MSC4140 delayed events; docs/decisions.md "The notice when the bot is gone")."""

from __future__ import annotations

from abc import ABC, abstractmethod


class DelayRefused(Exception):
    """The homeserver refused a delayed-event request (rate limit, cap, network);
    `retry_after` seconds when it said how long to wait."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.retry_after = retry_after


class DelayedNotices(ABC):
    """Plain notices held by the homeserver, posted when their delay runs out.

    A delay id is a bearer capability (anyone holding it can restart, cancel or fire the
    notice): store it, never log it or put it in a room."""

    @abstractmethod
    async def delayed_offered(self) -> bool:
        """True when the homeserver offers delayed events. Without it nothing is ever sent
        with a delay: a server that does not know the parameter would post at once."""

    @abstractmethod
    async def schedule_notice(self, room: str, text: str, *, delay_seconds: int, txn: str) -> str:
        """Schedule a plain (unencrypted) m.notice `text` in `room`; its delay id. The same
        `txn` again gives the same delay id. DelayRefused when refused."""

    @abstractmethod
    async def restart_notice(self, delay_id: str) -> bool:
        """Restart the delay from now; False when the notice is gone (posted or cancelled).
        DelayRefused when refused."""

    @abstractmethod
    async def cancel_notice(self, delay_id: str) -> None:
        """Drop the notice; one already gone is fine. DelayRefused when refused."""

    @abstractmethod
    async def pending_notices(self) -> dict[str, str]:
        """The bot user's pending delayed events (of every device): delay id → room."""
