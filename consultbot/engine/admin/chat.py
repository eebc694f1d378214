"""Admins by chat: a data file sent to the bot, checked, then `!aktivera`, `!avbryt`, `!återställ`.

An admin sends a roster, catalogue, staff list or directory file in a direct chat with the bot
or in the admin room. The bot checks it with the same code as `consultbot … check`
(datasets.check_files) and answers with the same summary or every error with its line.
A file without errors waits (in the database, one per admin, for 24 hours) until the admin
writes `!aktivera` — checked again then, against the data active at that moment — or
`!avbryt`. `!återställ KIND` makes the previous version active again.

A file that would leave new coverage holes at level 1 within opening hours, or remove more
than `bot.shrink_guard_share` of the active version, is held: its summary says so, and only
`!aktivera ändå` (`!activate anyway`) activates it — as `--allow-gaps`/`--allow-shrink` do
for the CLI; a plain `!aktivera` answers with the summary again and changes nothing.

Anyone else's files and admin commands are refused, never fetched, never activated. Every
admin action and every refused attempt is logged with who and when (`admin_action`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from consultbot.config import Config
from consultbot.domain.chat import commands as cmd
from consultbot.domain.errors import NothingToRollBack
from consultbot.domain.files.uploads import (
    MAX_UPLOAD_BYTES,
    PendingUpload,
    detect_dataset,
    known_file_name,
)
from consultbot.domain.types import Dataset, UserId
from consultbot.engine.admin import datasets
from consultbot.ports import (
    AdminLog,
    Clock,
    DataSets,
    FileSource,
    FileTooLarge,
    IncomingFile,
    Uploads,
)
from consultbot.text.render import Messages

log = logging.getLogger(__name__)

MAX_LISTED_ERRORS = 20
"""Errors listed in a chat answer about a data file; the count of the rest follows (the CLI
lists every one a check keeps: errors.MAX_KEPT_PROBLEMS)."""

Reply = Callable[..., Awaitable[None]]
"""reply(room, template, *, handled, language, **params): one notice, recorded as handled."""

Say = Callable[..., Awaitable[None]]
"""say(template, **params): the reply bound to the room, the event handled and the language."""

_LIMIT_MB = MAX_UPLOAD_BYTES // (1024 * 1024)


class AdminChat:
    """Uploads and data-set commands from admins in chat."""

    def __init__(
        self,
        *,
        config: Config,
        datasets: DataSets,
        uploads: Uploads,
        admin_log: AdminLog,
        files: FileSource,
        clock: Clock,
        reply: Reply,
        admin_room: Callable[[], str],
        changed: Callable[[str], None] = lambda what: None,
    ) -> None:
        self._config = config
        self._changed = changed  # a data set activated or rolled back: the board shows it
        self._datasets = datasets
        self._uploads = uploads
        self._admin_log = admin_log
        self._files = files
        self._clock = clock
        self._reply = reply
        self._admin_room = admin_room
        self._admins = frozenset(config.bot.admins)
        self._lock = asyncio.Lock()

    def _messages(self, language: str) -> Messages:
        """The messages in `language`; "" is the config's language."""
        return Messages(language or self._config.bot.language)

    async def _log(
        self, user: UserId, action: str, detail: str, now: datetime, *, allowed: bool = True
    ) -> None:
        """For the data-protection officer: who did (or tried) which admin action, when."""
        await self._admin_log.record_admin_action(
            actor=user, action=action, allowed=allowed, detail=detail, now=now
        )

    async def _refuse(
        self, user: UserId, action: str, room: str, *, handled: str, language: str
    ) -> None:
        log.info("refused %s by a non-admin", action)
        await self._log(user, action, "", self._clock.now(), allowed=False)
        await self._reply(room, "admin_only", handled=handled, language=language)

    # -- a file ---------------------------------------------------------------------------------

    def wants(self, file: IncomingFile) -> bool:
        """Files in a direct chat with the bot or in the admin room are for this desk."""
        return file.direct or (bool(self._admin_room()) and file.room == self._admin_room())

    async def file(self, file: IncomingFile) -> None:
        """Check a file sent by an admin and keep it for `!aktivera`; refuse anyone else's."""
        room = file.room
        say = functools.partial(self._reply, room, handled=file.event_id, language="")
        if file.sender not in self._admins:
            await self._refuse(file.sender, "upload", room, handled=file.event_id, language="")
            return
        if not known_file_name(file.name):
            await say("upload_wrong_type", name=file.name)
            return
        if file.size is not None and file.size > MAX_UPLOAD_BYTES:
            await say("upload_too_large", limit=_LIMIT_MB)
            return
        try:
            data = await self._files.fetch_file(file, max_bytes=MAX_UPLOAD_BYTES)
        except FileTooLarge:
            await say("upload_too_large", limit=_LIMIT_MB)
            return
        except OSError:
            log.warning("could not fetch the file of %s", file.event_id)
            await say("upload_unreadable")
            return
        dataset = detect_dataset(file.name, data)
        if dataset is None:
            await say("upload_wrong_type", name=file.name)
            return
        checked = await self._check(dataset, file.name, data)
        if checked is None:
            await say("upload_no_catalogue")
            return
        lines = self._lines(checked, "")
        if not checked.ok:
            await say("upload_errors", name=file.name, lines=lines)
            return
        upload = PendingUpload(
            admin=file.sender,
            room=room,
            dataset=dataset,
            name=file.name,
            data=data,
            uploaded_at=self._clock.now(),
        )
        await self._uploads.save_upload(upload)
        await self._log(file.sender, "upload", f"{dataset.value}: {file.name}", upload.uploaded_at)
        await say(
            "upload_held" if checked.held() else "upload_ready",
            name=file.name,
            what=self._messages("").dataset(dataset.value),
            lines=lines,
            **self._hold_fields(checked),
        )

    def _hold_fields(self, checked: datasets.Checked) -> dict[str, Any]:
        """Why an upload is held (template fields), the same reasons as the CLI's."""
        reasons = checked.hold_reasons(allow_gaps=False, allow_shrink=False)
        return {**reasons, "share": f"{self._config.bot.shrink_guard_share * 100:g}"}

    async def _check(self, dataset: Dataset, name: str, data: bytes) -> datasets.Checked | None:
        try:
            return await datasets.check_configured(
                self._config, dataset, [(name, data)], self._datasets, self._clock.now()
            )
        except datasets.NoCatalogue:
            return None

    def _lines(self, checked: datasets.Checked, language: str) -> list[str]:
        messages = self._messages(language)
        out, err = datasets.format_check(checked, messages, max_errors=MAX_LISTED_ERRORS)
        return [*out, *err]

    # -- commands -------------------------------------------------------------------------------

    async def command(
        self,
        command: cmd.Activate | cmd.Cancel | cmd.Rollback,
        *,
        user: UserId,
        room: str,
        handled: str,
        language: str,
    ) -> None:
        """`!aktivera`, `!avbryt` or `!återställ KIND` from `user`."""
        if user not in self._admins:
            await self._refuse(user, command.name, room, handled=handled, language=language)
            return
        say = functools.partial(self._reply, room, handled=handled, language=language)
        async with self._lock:  # two !aktivera at once activate once
            if isinstance(command, cmd.Rollback):
                await self._rollback(user, command.dataset, say, language)
                return
            upload = await self._waiting(user)
            if upload is None:
                await say("nothing_to_activate")
            elif isinstance(command, cmd.Activate):
                await self._activate(user, upload, say, language, anyway=command.anyway)
            else:
                await self._cancel(user, upload, say)

    async def _waiting(self, user: UserId) -> PendingUpload | None:
        upload = await self._uploads.pending_upload(user)
        if upload is not None and upload.expired(self._clock.now()):
            await self._uploads.drop_upload(user)
            return None
        return upload

    async def _activate(
        self, user: UserId, upload: PendingUpload, say: Say, language: str, *, anyway: bool
    ) -> None:
        checked = await self._check(upload.dataset, upload.name, upload.data)
        what = self._messages(language).dataset(upload.dataset.value)
        if checked is None or not checked.ok:
            # The data changed since the upload (e.g. another catalogue): check it again.
            lines = self._lines(checked, language) if checked is not None else []
            await self._uploads.drop_upload(user)
            await say("upload_errors", name=upload.name, lines=lines)
            return
        if checked.held(allow_gaps=anyway, allow_shrink=anyway):
            # Checked again now: the admin sees what activating would do at this moment.
            await say(
                "upload_held",
                name=upload.name,
                what=what,
                lines=self._lines(checked, language),
                **self._hold_fields(checked),
            )
            return
        now = self._clock.now()
        if checked.unchanged:
            # The same data again: no new version (a rollback would restore the same data).
            await self._uploads.drop_upload(user)
            versions = await self._datasets.versions(upload.dataset)
            active = next((v.number for v in versions if v.active), None)
            await say("already_active", what=what, version=active)
            return
        version = await checked.activate(self._datasets, now)
        await self._uploads.drop_upload(user)
        detail = f"{upload.dataset.value} version {version}: {upload.name}"
        if checked.held():
            detail += " (confirmed anyway)"
        await self._log(user, "activate", detail, now)
        self._changed(upload.dataset.value)
        log.info("%s version %d activated by chat", upload.dataset.value, version)
        await say("activated", what=what, version=version)

    async def _cancel(self, user: UserId, upload: PendingUpload, say: Say) -> None:
        await self._uploads.drop_upload(user)
        await self._log(user, "cancel", f"{upload.dataset.value}: {upload.name}", self._clock.now())
        await say("upload_discarded", name=upload.name)

    async def _rollback(self, user: UserId, dataset: Dataset, say: Say, language: str) -> None:
        what = self._messages(language).dataset(dataset.value)
        now = self._clock.now()
        versions = await self._datasets.versions(dataset)
        undone = next((v.number for v in versions if v.active), None)
        try:
            version = await self._datasets.rollback(dataset, now=now)
        except NothingToRollBack:
            await say("nothing_to_roll_back", what=what)
            return
        detail = f"{dataset.value}: version {undone} undone, version {version} active"
        await self._log(user, "rollback", detail, now)
        self._changed(dataset.value)
        await say("rolled_back", what=what, undone=undone, version=version)
