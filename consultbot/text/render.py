"""All user-facing text, from jinja2 templates in templates/, in Swedish and in English.

Chat templates live in templates/chat/sv/ and templates/chat/en/ under the same names; a
message is rendered in one language, never both (SPEC §6).
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jinja2

from consultbot.domain.errors import Problem
from consultbot.domain.files import phones
from consultbot.resources import templates_dir

if TYPE_CHECKING:
    from consultbot.ports import Content

LANGUAGES = ("sv", "en")


@lru_cache(maxsize=4)
def _catalogue(language: str) -> dict[str, dict[str, str]]:
    path = templates_dir() / "messages" / f"{language}.toml"
    with path.open("rb") as handle:
        data: dict[str, dict[str, str]] = tomllib.load(handle)
    return data


@lru_cache(maxsize=2)
def environment(html: bool) -> jinja2.Environment:
    """The jinja2 environment over templates/, autoescaping for HTML output."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=512)
def _compiled(language: str, section: str, key: str) -> jinja2.Template:
    source = _catalogue(language)[section][key]
    return environment(False).from_string(source)


class Messages:
    """Renders message-catalogue entries in one language."""

    def __init__(self, language: str = "sv") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        self.language = language

    def text(self, section: str, name: str, /, **params: Any) -> str:
        """The message `section.name` with its fields filled in."""
        return _compiled(self.language, section, name).render(**params)

    def has(self, section: str, name: str) -> bool:
        return name in _catalogue(self.language).get(section, {})

    def cli(self, name: str, /, **params: Any) -> str:
        return self.text("cli", name, **params)

    def problem(self, problem: Problem) -> str:
        """One line for a data-file problem: `file:line: reason` (`file:C12: reason` for a
        spreadsheet cell)."""
        place = problem.cell or problem.line
        where = f"{problem.file}:{place}" if place else problem.file
        params = dict(problem.params)
        for key in ("column", "columns"):
            if key in params:
                params[key] = ", ".join(self._column(c) for c in params[key].split(", "))
        return f"{where}: {self.text('problem', problem.code, **params)}"

    def _column(self, name: str) -> str:
        """A column's name in this language (tjänst, slut …); unknown names as written."""
        return self.text("column", name) if self.has("column", name) else name

    def dataset(self, name: str) -> str:
        """The human name of a data set ("Schemat", …)."""
        return self.text("dataset", name)


def keys(language: str) -> dict[str, set[str]]:
    """Every message key by section, for checking that both languages have the same."""
    return {section: set(entries) for section, entries in _catalogue(language).items()}


# --------------------------------------------------------------------------------------------
# Chat messages


@lru_cache(maxsize=2)
def chat_names(language: str = "sv") -> dict[str, Any]:
    """Names of tracks, outcomes, states and hours for chat, in `language`."""
    with (templates_dir() / "chat" / "names.toml").open("rb") as handle:
        names: dict[str, Any] = tomllib.load(handle)[language]
    return names


def hours_text(hours: Any, language: str = "sv") -> str:
    """Opening hours in words: "vardagar 08:00–17:00", "dygnet runt" (or in English)."""
    names = chat_names(language)["hours"]
    if hours.always:
        return str(names["always"])
    text = str(hours).split(" ", 1)[1].replace("-", "–")
    return f"{names[hours.days]} {text}"


ECHO_LIMIT = 40  # characters of what someone typed that an answer repeats


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """What someone typed, as an answer may repeat it: on one line, at most `limit` characters
    (cut with …), and with every @ made a look-alike (＠) so that no `@room` or user id in it
    can act as a mention in any client. HTML escaping is the template's (autoescape)."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat.replace("@", "\uff20")


def duration(seconds: float, language: str = "sv") -> str:
    """A short human duration: 45 s, 3 min 5 s, 1 h 2 min."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


class ChatRenderer:
    """Renders templates/chat/LANGUAGE/NAME.j2 into plain text and HTML (pills, tel: links)."""

    def __init__(self, tz: Any, language: str = "sv") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        self.tz = tz
        self.language = language

    def _helpers(self, html: bool, language: str, withheld: str = "") -> dict[str, Any]:
        from datetime import datetime

        from markupsafe import Markup, escape

        def pill(user: str, name: str = "") -> Any:
            label = name or user
            if not html:
                return label
            return Markup('<a href="https://matrix.to/#/{}">{}</a>').format(user, label)

        def tel(phone: str) -> Any:
            if not phone:
                return ""
            if not html:
                return f"{phone} ({phones.tel_uri(phone)})"
            return Markup('<a href="{}">{}</a>').format(phones.tel_uri(phone), phone)

        def link(url: str, label: str) -> Any:
            # https only: checked when the catalogue is read (domain/duty/routines.py).
            if not html:
                return f"{label}: {url}"
            return Markup('<a href="{}">{}</a>').format(url, label)

        def staff_tel(phone: str) -> Any:
            # A staff member's own number: left out (and said where it went) when the message
            # goes to a room where someone may not see it (outbox.py, domain/audience.py).
            if phone and withheld:
                return names["withheld"][withheld]
            return tel(phone)

        at = "kl. " if language == "sv" else "at "

        def local(value: str | datetime) -> str:
            instant = datetime.fromisoformat(value) if isinstance(value, str) else value
            return f"{instant.astimezone(self.tz):%Y-%m-%d} {at}{instant.astimezone(self.tz):%H:%M}"

        names = chat_names(language)
        return {
            "pill": pill,
            "tel": tel,
            "staff_tel": staff_tel,
            "local": local,
            "duration": duration,
            "outcome_name": lambda o: names["outcome"].get(o, o),
            # The words to type for outcomes (`!avsluta råd | remiss | …`), from their keys.
            "outcome_words": lambda keys: " | ".join(names["outcome_word"].get(k, k) for k in keys),
            "outcomes_by_path": lambda paths: " · ".join(
                ", ".join(names["track_command"].get(t, t) for t in p["tracks"])
                + ": "
                + " | ".join(names["outcome_word"].get(k, k) for k in p["outcomes"])
                for p in paths
            ),
            "state_name": lambda s: names["state"].get(s, s),
            "track_name": lambda t: names["track"].get(t, t),
            "track_command": lambda t: names["track_command"].get(t, t),
            # Requester kinds as a list ("vårdcentraler, kommunal hälso- och sjukvård").
            "kind_names": lambda kinds: ", ".join(names["requester_kind"].get(k, k) for k in kinds),
            "link": link,
            "escape": escape,
            "echo": echo,
        }

    def render(
        self,
        template: str,
        /,
        *,
        notice: bool = True,
        mentions: tuple[str, ...] = (),
        language: str = "",
        withheld: str = "",
        **params: Any,
    ) -> Content:
        """Content for `template` in `language` (default the renderer's; an m.notice unless
        `notice` is False). With `withheld` ("dm" or "ring") every staff number is left out
        and the text says where to get it."""
        from consultbot.domain.types import UserId
        from consultbot.ports import Content

        language = language or self.language
        name = f"chat/{language}/{template}.j2"
        text, html = (
            environment(as_html)
            .get_template(name)
            .render(**self._helpers(as_html, language, withheld), **params)
            for as_html in (False, True)
        )
        return Content(
            text=text.strip(),
            html=html.strip().replace("\n", "<br>\n"),
            mentions=tuple(UserId(m) for m in mentions),
            notice=notice,
        )

    def hours(self, hours: Any, language: str = "") -> str:
        """ "vardagar 08:00–17:00", "dygnet runt" (or in English)."""
        return hours_text(hours, language or self.language)
