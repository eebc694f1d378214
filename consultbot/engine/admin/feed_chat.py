"""Calendar feeds by chat: `!kalender skapa TJÄNST|@USER`, `!kalender lista`,
`!kalender återkalla NUMMER` (`!feed create|list|revoke`), for admins, as the CLI's
`consultbot feed …` (engine/feeds.py does both).

Where: in a direct chat with the bot or in the admin room; an admin anywhere else is told
where, anyone else is refused and the attempt logged. A new feed's address holds its secret
token, so `skapa` answers only in a direct chat (the admin and the bot alone): in the admin
room it creates nothing and says so. The answer passes through the outbox like every reply;
the outbox forgets a message's content once it is sent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from consultbot.config import Config
from consultbot.domain.chat import commands as cmd
from consultbot.domain.duty.feeds import Feed
from consultbot.domain.errors import FeedRefused
from consultbot.engine.admin.chat import Reply
from consultbot.engine.feeds import FeedDesk
from consultbot.ports import AdminLog, Clock, IncomingMessage

log = logging.getLogger(__name__)


def _shown(feed: Feed) -> dict[str, str | int]:
    return {"number": feed.id, "kind": feed.kind.value, "target": feed.target}


class FeedChat:
    """`!kalender` from admins in a direct chat or the admin room."""

    def __init__(
        self,
        *,
        config: Config,
        desk: FeedDesk,
        admin_log: AdminLog,
        clock: Clock,
        reply: Reply,
        admin_room: Callable[[], str],
    ) -> None:
        self._admins = frozenset(config.bot.admins)
        self._desk = desk
        self._admin_log = admin_log
        self._clock = clock
        self._reply = reply
        self._admin_room = admin_room

    async def command(
        self, message: IncomingMessage, command: cmd.CalendarFeed, *, language: str
    ) -> None:
        """One `!kalender` command from `message.sender`."""
        say = functools.partial(
            self._reply, message.room, handled=message.event_id, language=language
        )
        user, now = message.sender, self._clock.now()
        if user not in self._admins:
            log.info("refused a calendar feed command by a non-admin")
            await self._admin_log.record_admin_action(
                actor=user, action=f"feed_{command.action.value}", allowed=False, detail="", now=now
            )
            await say("admin_only")
            return
        in_admin_room = bool(self._admin_room()) and message.room == self._admin_room()
        if not (message.direct or in_admin_room):
            await say("feed_where")
            return
        try:
            if command.action is cmd.FeedAction.LIST:
                await say("feed_list", feeds=[_shown(f) for f in await self._desk.feeds()])
            elif command.action is cmd.FeedAction.REVOKE:
                feed = await self._desk.revoke(command.number, by=user, now=now)
                await say("feed_revoked", **_shown(feed))
            elif not message.direct:
                await say("feed_direct_only")
            else:
                target = command.target
                person = target if target.startswith("@") else ""
                if not person and len(message.mentions) == 1:
                    person = message.mentions[0]  # a mention pill arrives as a display name
                service = "" if person else target
                made = await self._desk.create(service=service, person=person, by=user, now=now)
                await say("feed_created", url=made.url, **_shown(made.feed))
        except FeedRefused as refused:
            await say("feed_refused", reason=refused.code, **refused.params)
