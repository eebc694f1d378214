"""Chat text → Command objects.

A message whose body starts with `!` (after leading whitespace) is a command. Names are
case-insensitive, Swedish with English aliases (SPEC §6). Bad usage is not an exception: it
parses to `Invalid(command, reason)` with a short `Reason` code that is rendered elsewhere.

Every command has a `name`: its canonical Swedish name, safe to log. Only `Ask`, `Conference`
and `Contact` carry text that a person typed; that text must never reach a log.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, TypeAlias

from consultbot.domain.types import Dataset, Outcome, Track

MAX_BODY_LENGTH = 8000
"""Longer message bodies are refused as `Reason.TEXT_TOO_LONG`."""

_MAX_UNKNOWN_NAME = 32  # an unknown name is echoed back; keep it short


# Outcomes (the enumeration itself is in types.py: the consult's log stores it too). Every
# outcome of every path is read here; which ones a consult's path offers is the catalogue's
# (duty/outcomes.py), checked when the consult is closed.
_OUTCOME_WORDS: Mapping[str, Outcome] = MappingProxyType(
    {
        word: outcome
        for outcome, words in (
            (
                Outcome.ADVICE,
                ("råd", "rad", "advice", "råd – remiss undviken", "advice – referral avoided"),
            ),
            (Outcome.REFERRAL, ("remiss", "referral")),
            (
                Outcome.ADMISSION,
                (
                    "inläggning",
                    "inlaggning",
                    "inlagd",
                    "direkt inläggning",
                    "direkt inlaggning",
                    "admission",
                    "direct admission",
                ),
            ),
            (
                Outcome.ED,
                ("akuten", "akutmottagningen", "akutmottagning", "ed", "emergency department"),
            ),
            (Outcome.VISIT, ("besök", "besok", "visit")),
            (Outcome.OTHER, ("annat", "other")),
            # The fourth path's own (tillgänglig primärvård).
            (
                Outcome.HOME,
                (
                    "hemma",
                    "kvar hemma",
                    "slutbehandlad",
                    "slutbehandlad på plats",
                    "slutbehandlad pa plats",
                    "kvar hemma / slutbehandlad på plats",
                    "home",
                    "stays home",
                    "finished on site",
                    "stays home / finished on site",
                ),
            ),
            (
                Outcome.PRIMARY_CARE,
                (
                    "vårdcentral",
                    "vårdcentralen",
                    "vardcentral",
                    "vardcentralen",
                    "vc",
                    "primary_care",
                    "primary care",
                    "till vårdcentralen",
                    "till vardcentralen",
                    "to the primary care centre",
                ),
            ),
            (
                Outcome.HOME_VISIT,
                (
                    "hembesök",
                    "hembesok",
                    "läkarbesök i hemmet",
                    "lakarbesok i hemmet",
                    "home_visit",
                    "home visit",
                    "doctor's home visit",
                ),
            ),
        )
        for word in words
    }
)


def _word(text: str) -> str:
    """NFC, case-folded, without surrounding whitespace and punctuation.

    A loop, not a pattern: `[\\W_]+$` tries every start position and backtracks over the
    whole run each time, quadratic in a long run of punctuation (8,000 dots: seconds)."""
    text = unicodedata.normalize("NFC", text)
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end].casefold()


def parse_outcome(text: str) -> Outcome | None:
    """The outcome a person typed (`råd`, `remiss`, `advice`, …), or None.

    Case-insensitive; surrounding whitespace and punctuation are ignored. `Outcome.UNKNOWN`
    is never returned: people cannot choose it.
    """
    return _OUTCOME_WORDS.get(_word(text))


class Reason(StrEnum):
    """Why a command could not be used; rendered to people elsewhere."""

    UNKNOWN_COMMAND = "unknown_command"
    MISSING_SERVICE = "missing_service"
    MISSING_TEXT = "missing_text"
    TOO_FEW_SERVICES = "too_few_services"
    MISSING_QUERY = "missing_query"
    MISSING_OUTCOME = "missing_outcome"
    UNKNOWN_OUTCOME = "unknown_outcome"
    BAD_MONTH = "bad_month"
    MISSING_USER = "missing_user"
    BAD_TIME = "bad_time"
    TEXT_TOO_LONG = "text_too_long"
    UNKNOWN_DATASET = "unknown_dataset"
    BAD_MEETING_TIME = "bad_meeting_time"
    BAD_FEED = "bad_feed"


_ASK_NAMES: Mapping[Track, str] = MappingProxyType(
    {Track.HALVAKUT: "konsult", Track.AKUT: "akut", Track.PRIMARVARD: "vc"}
)


@dataclass(frozen=True, kw_only=True)
class Ask:
    """`!konsult`, `!akut`, `!vc`: ask the person on duty at `service` a question."""

    track: Track
    service: str
    text: str

    @property
    def name(self) -> str:
        """The canonical command name, which depends on the track."""
        return _ASK_NAMES.get(self.track, "konsult")


@dataclass(frozen=True, kw_only=True)
class Conference:
    """`!mdk`: convene a multidisciplinary conference of two or more services."""

    name: ClassVar[str] = "mdk"
    services: tuple[str, ...]
    text: str


@dataclass(frozen=True, kw_only=True)
class Who:
    """`!vem`: who is on duty at `service` now ("" lists the services)."""

    name: ClassVar[str] = "vem"
    service: str


@dataclass(frozen=True, kw_only=True)
class ShowRoutine:
    """`!rutin`: how `service` wants to be reached on each path ("" lists the services)."""

    name: ClassVar[str] = "rutin"
    service: str


@dataclass(frozen=True, kw_only=True)
class Contact:
    """`!kontakt`: search the contact directory."""

    name: ClassVar[str] = "kontakt"
    query: str


@dataclass(frozen=True, kw_only=True)
class Acknowledge:
    """`!kvittera`: acknowledge a page in the consult room."""

    name: ClassVar[str] = "kvittera"


@dataclass(frozen=True, kw_only=True)
class PassOn:
    """`!vidare`: the paged person cannot take it; escalate now."""

    name: ClassVar[str] = "vidare"


@dataclass(frozen=True, kw_only=True)
class Close:
    """`!avsluta`: close the consult with an outcome."""

    name: ClassVar[str] = "avsluta"
    outcome: Outcome


@dataclass(frozen=True, kw_only=True)
class Call:
    """`!ring`: post the other party's phone number and count a phone contact."""

    name: ClassVar[str] = "ring"


@dataclass(frozen=True, kw_only=True)
class Status:
    """`!status`: the user's open consults."""

    name: ClassVar[str] = "status"


@dataclass(frozen=True, kw_only=True)
class Help:
    """`!hjälp [TOPIC]`: usage; a topic that names a command is its canonical name."""

    name: ClassVar[str] = "hjälp"
    topic: str = ""


@dataclass(frozen=True, kw_only=True)
class Stats:
    """`!statistik [YYYY-MM]`: the follow-up report, for one month or the default period."""

    name: ClassVar[str] = "statistik"
    month: str | None


@dataclass(frozen=True, kw_only=True)
class Activate:
    """`!aktivera`: activate the uploaded data file; `!aktivera ändå` (`!activate anyway`)
    also when the file is held for new coverage holes or for removing much (issue 20)."""

    name: ClassVar[str] = "aktivera"
    anyway: bool = False


@dataclass(frozen=True, kw_only=True)
class Cancel:
    """`!avbryt`: discard the uploaded data file."""

    name: ClassVar[str] = "avbryt"


@dataclass(frozen=True, kw_only=True)
class Rollback:
    """`!återställ KIND`: make the previous version of a data set active again."""

    name: ClassVar[str] = "återställ"
    dataset: Dataset


DATASET_WORDS: Mapping[str, Dataset] = MappingProxyType(
    {
        word: dataset
        for dataset, words in (
            (Dataset.ROSTER, ("schema", "scheman", "roster")),
            (Dataset.CATALOGUE, ("katalog", "katalogen", "catalogue", "catalog")),
            (Dataset.STAFF, ("personal", "personallista", "staff")),
            (Dataset.DIRECTORY, ("kontakter", "kontaktlista", "directory")),
        )
        for word in words
    }
)
"""The words `!återställ` takes for each data set (SPEC §6), Swedish and English."""


@dataclass(frozen=True, kw_only=True)
class Queue:
    """`!kö`: queue a consult asked outside opening hours for the next opening."""

    name: ClassVar[str] = "kö"


@dataclass(frozen=True, kw_only=True)
class Meeting:
    """`!möte YYYY-MM-DD HH:MM`: set a conference's meeting time (`at`: local, naive)."""

    name: ClassVar[str] = "möte"
    at: datetime


@dataclass(frozen=True, kw_only=True)
class HandOver:
    """`!lämna @USER [HH:MM]`: hand the sender's current duty to USER until HH:MM (or the end
    of the shift). An admin's `!lämna @FROM @TO [HH:MM]` hands FROM's duty to TO at once.

    `users` are the Matrix ids written in the text (mention pills arrive as names: the inbox
    then takes the message's mentions)."""

    name: ClassVar[str] = "lämna"
    users: tuple[str, ...]
    until: time | None = None


@dataclass(frozen=True, kw_only=True)
class Accept:
    """`!acceptera`: accept the handover offered to the sender."""

    name: ClassVar[str] = "acceptera"


@dataclass(frozen=True, kw_only=True)
class Decline:
    """`!avböj`: decline the handover offered to the sender."""

    name: ClassVar[str] = "avböj"


class FeedAction(StrEnum):
    """What `!kalender` does with calendar feeds."""

    CREATE = "create"
    LIST = "list"
    REVOKE = "revoke"


@dataclass(frozen=True, kw_only=True)
class CalendarFeed:
    """`!kalender skapa TJÄNST|@USER`, `!kalender lista`, `!kalender återkalla NUMMER`
    (`!feed create|list|revoke`): admins' calendar feeds (issue 22). `target` is the service
    or Matrix id to create a feed of, `number` the feed to revoke."""

    name: ClassVar[str] = "kalender"
    action: FeedAction
    target: str = ""
    number: int = 0


@dataclass(frozen=True, kw_only=True)
class Invalid:
    """A command used wrongly.

    `command` is the canonical name when the name was recognised; for
    `Reason.UNKNOWN_COMMAND` it is the name as typed (case-folded, at most 32 characters).
    """

    name: ClassVar[str] = "invalid"
    command: str
    reason: Reason


Command: TypeAlias = (
    Ask | Conference | Who | ShowRoutine | Contact | Acknowledge | PassOn | Close | Call | Status
    | Help | Stats | Activate | Cancel | Rollback | Queue | Meeting | HandOver | Accept | Decline
    | CalendarFeed | Invalid
)  # fmt: skip

ENGLISH_SPELLINGS: frozenset[str] = frozenset(
    {
        "consult", "acute", "pc", "mdt", "who", "routine", "contact", "ack", "pass", "close",
        "call", "help", "stats", "activate", "cancel", "queue", "rollback", "meeting",
        "handover", "accept", "decline", "feed",
    }
)  # fmt: skip
"""The English aliases: whoever writes one is answered in English (SPEC §6)."""


def canonical_name(name: str) -> str | None:
    """The canonical name of a command spelling (`"Help"`, `"!ack"` …), or None."""
    return ALIASES.get(_word(name))


_COMMAND = re.compile(r"\s*!(\S*)(.*)", re.DOTALL)
_FIRST_TOKEN = re.compile(r"(\S+)(.*)", re.DOTALL)
# Spaces around commas are allowed, line breaks are not: the question may start on the next line.
_SERVICE_LIST = re.compile(r"([^\s,]+(?:[ \t]*,[ \t]*[^\s,]+)*)[ \t]*,?(.*)", re.DOTALL)
_TRAILING_PUNCTUATION = ".,:;!?"
_MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")


def parse_command(body: str) -> Command | None:
    """The command in a message body, or None when the body is not a command.

    A command starts with `!` and a letter after any leading whitespace; `!`, `!!!` or `! …`
    are exclamations, not commands. Never raises: bad usage gives `Invalid`.
    """
    match = _COMMAND.match(body)
    if match is None:
        return None
    typed = unicodedata.normalize("NFC", match.group(1)).rstrip(_TRAILING_PUNCTUATION).casefold()
    if not typed or not typed[0].isalpha():
        return None
    name = ALIASES.get(typed)
    if len(body) > MAX_BODY_LENGTH:
        return Invalid(command=name or typed[:_MAX_UNKNOWN_NAME], reason=Reason.TEXT_TOO_LONG)
    if name is None:
        return Invalid(command=typed[:_MAX_UNKNOWN_NAME], reason=Reason.UNKNOWN_COMMAND)
    return _PARSERS[name](match.group(2).strip())


def written_in_english(body: str) -> bool:
    """True when `body` is a command written with its English alias (`!consult`, `!who` …)."""
    match = _COMMAND.match(body)
    if match is None:
        return False
    typed = unicodedata.normalize("NFC", match.group(1)).rstrip(_TRAILING_PUNCTUATION).casefold()
    return typed in ENGLISH_SPELLINGS


def _first_token(rest: str) -> tuple[str, str]:
    """The first whitespace-separated token and the trimmed remainder."""
    match = _FIRST_TOKEN.match(rest)
    if match is None:
        return "", ""
    return match.group(1), match.group(2).strip()


def _service(token: str) -> str:
    # "!konsult kardiologi: text" is common; the colon is not part of the name
    return token.rstrip(_TRAILING_PUNCTUATION)


def _ask(track: Track) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        token, text = _first_token(rest)
        service = _service(token)
        if not service:
            return Invalid(command=_ASK_NAMES[track], reason=Reason.MISSING_SERVICE)
        if not text:
            return Invalid(command=_ASK_NAMES[track], reason=Reason.MISSING_TEXT)
        return Ask(track=track, service=service, text=text)

    return parse


def _conference(rest: str) -> Command:
    match = _SERVICE_LIST.match(rest)
    if match is None:
        return Invalid(command=Conference.name, reason=Reason.MISSING_SERVICE)
    services: dict[str, str] = {}
    for part in match.group(1).split(","):
        service = _service(part.strip())
        if service:
            services.setdefault(service.casefold(), service)
    if len(services) < 2:
        return Invalid(command=Conference.name, reason=Reason.TOO_FEW_SERVICES)
    text = match.group(2).strip()
    if not text:
        return Invalid(command=Conference.name, reason=Reason.MISSING_TEXT)
    return Conference(services=tuple(services.values()), text=text)


def _who(rest: str) -> Command:
    # the whole rest, so that multi-word service names work; none lists the services
    return Who(service=_service(" ".join(rest.split())))


def _routine(rest: str) -> Command:
    return ShowRoutine(service=_service(" ".join(rest.split())))


def _contact(rest: str) -> Command:
    query = " ".join(rest.split())
    if not query:
        return Invalid(command=Contact.name, reason=Reason.MISSING_QUERY)
    return Contact(query=query)


def _close(rest: str) -> Command:
    # The whole rest must be one outcome: reading only the first word would turn
    # "remiss undviken" (referral avoided) into a referral.
    if not _word(rest):
        return Invalid(command=Close.name, reason=Reason.MISSING_OUTCOME)
    outcome = parse_outcome(rest)
    if outcome is None:
        return Invalid(command=Close.name, reason=Reason.UNKNOWN_OUTCOME)
    return Close(outcome=outcome)


def _help(rest: str) -> Command:
    token, _ = _first_token(rest)
    topic = _word(token)
    return Help(topic=ALIASES.get(topic, topic))


def _stats(rest: str) -> Command:
    if not rest:
        return Stats(month=None)
    if _MONTH.fullmatch(rest) is None:
        return Invalid(command=Stats.name, reason=Reason.BAD_MONTH)
    return Stats(month=rest)


ANYWAY_WORDS = frozenset({"ändå", "andå", "anda", "anyway"})
"""The word after `!aktivera` that confirms a held upload."""


def _rollback(rest: str) -> Command:
    dataset = DATASET_WORDS.get(_word(rest))
    if dataset is None:
        return Invalid(command=Rollback.name, reason=Reason.UNKNOWN_DATASET)
    return Rollback(dataset=dataset)


_MEETING = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]+([0-9]{1,2})[:.]([0-9]{2})")


def _meeting(rest: str) -> Command:
    match = _MEETING.fullmatch(rest.strip().rstrip(_TRAILING_PUNCTUATION))
    if match is None:
        return Invalid(command=Meeting.name, reason=Reason.BAD_MEETING_TIME)
    year, month, day, hour, minute = (int(g) for g in match.groups())
    valid_day = 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
    if not (2000 <= year <= 2999 and valid_day and hour < 24 and minute < 60):
        return Invalid(command=Meeting.name, reason=Reason.BAD_MEETING_TIME)
    return Meeting(at=datetime(year, month, day, hour, minute))


_USER = re.compile(r"@[^\s:]+:\S+")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])[:.]([0-5][0-9])")


def _hand_over(rest: str) -> Command:
    users: list[str] = []
    until: time | None = None
    for token in rest.split():
        word = token.rstrip(_TRAILING_PUNCTUATION)
        if _USER.fullmatch(word):
            users.append(word)
        elif word[:1].isdigit():
            clock = _CLOCK.fullmatch(word)
            if clock is None or until is not None:
                return Invalid(command=HandOver.name, reason=Reason.BAD_TIME)
            until = time(int(clock.group(1)), int(clock.group(2)))
    if len(users) > 2:
        return Invalid(command=HandOver.name, reason=Reason.MISSING_USER)
    return HandOver(users=tuple(users), until=until)


_FEED_WORDS: Mapping[str, FeedAction] = MappingProxyType(
    {
        word: action
        for action, words in (
            (FeedAction.CREATE, ("skapa", "ny", "create", "new")),
            (FeedAction.LIST, ("lista", "list", "")),
            (FeedAction.REVOKE, ("återkalla", "aterkalla", "revoke")),
        )
        for word in words
    }
)
_FEED_NUMBER = re.compile(r"[0-9]{1,18}")


def _feed(rest: str) -> Command:
    word, argument = _first_token(rest)
    action = _FEED_WORDS.get(_word(word))
    argument = argument.rstrip(_TRAILING_PUNCTUATION).strip()
    bad = Invalid(command=CalendarFeed.name, reason=Reason.BAD_FEED)
    if action is FeedAction.LIST:
        return CalendarFeed(action=action) if not argument else bad
    if action is FeedAction.CREATE and argument and len(argument.split()) <= 4:
        return CalendarFeed(action=action, target=argument)
    if action is FeedAction.REVOKE and _FEED_NUMBER.fullmatch(argument.lstrip("#")):
        return CalendarFeed(action=action, number=int(argument.lstrip("#")))
    return bad


# Each command's spellings (its canonical Swedish name first) and parser, in the order of the
# help text.
_COMMANDS: tuple[tuple[tuple[str, ...], Callable[[str], Command]], ...] = (
    (("konsult", "consult"), _ask(Track.HALVAKUT)),
    (("akut", "acute"), _ask(Track.AKUT)),
    (("vc", "pc"), _ask(Track.PRIMARVARD)),
    (("mdk", "mdt"), _conference),
    (("vem", "who"), _who),
    (("rutin", "routine"), _routine),
    (("kontakt", "contact"), _contact),
    (("kvittera", "ack"), lambda _: Acknowledge()),
    (("vidare", "pass"), lambda _: PassOn()),
    (("avsluta", "close"), _close),
    (("ring", "call"), lambda _: Call()),
    (("status",), lambda _: Status()),
    (("hjälp", "hjalp", "help"), _help),
    (("statistik", "stats"), _stats),
    (("aktivera", "activate"), lambda rest: Activate(anyway=_word(rest) in ANYWAY_WORDS)),
    (("avbryt", "cancel"), lambda _: Cancel()),
    (("återställ", "aterstall", "rollback"), _rollback),
    (("kö", "ko", "queue"), lambda _: Queue()),
    (("möte", "mote", "meeting"), _meeting),
    (("lämna", "lamna", "handover"), _hand_over),
    (("acceptera", "accept"), lambda _: Accept()),
    (("avböj", "avboj", "decline"), lambda _: Decline()),
    (("kalender", "feed"), _feed),
)
_PARSERS: Mapping[str, Callable[[str], Command]] = MappingProxyType(
    {spellings[0]: parse for spellings, parse in _COMMANDS}
)

COMMAND_NAMES: tuple[str, ...] = tuple(_PARSERS)
"""The canonical (Swedish) command names, in the order of the help text."""

ALIASES: Mapping[str, str] = MappingProxyType(
    {spelling: spellings[0] for spellings, _ in _COMMANDS for spelling in spellings}
)
"""Every accepted spelling (without `!`, case-folded) → its canonical name."""
