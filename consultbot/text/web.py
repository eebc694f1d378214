"""The who's-on board's pages: jinja2 templates in templates/web/, in Swedish or English.

Every word a page shows comes from the `[web]` section of templates/messages/LANG.toml
(`t("key")` in a template); phone numbers become `tel:` links through domain/files/phones.py.
The names of paths, their commands, requester kinds and hours are chat's (templates/chat/
names.toml), so the board's matrix words them as `!rutin` does.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from consultbot.domain.duty.matrix import Instead
from consultbot.domain.files import phones
from consultbot.domain.types import Track
from consultbot.resources import templates_dir
from consultbot.text.render import LANGUAGES, Messages, chat_names, environment, hours_text

DEFAULT_LANGUAGE = "sv"


def web_folder() -> Path:
    """templates/web: the page templates, and static/ (the style sheet and the script)."""
    return templates_dir() / "web"


def language_of(accept_language: str) -> str:
    """Swedish, unless the browser's Accept-Language asks for English before Swedish.

    Languages are read in the order of their q-values (ties in the order written); the first
    one that is Swedish or English wins (`en-GB` is English); none of them: Swedish."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-", 1)[0]
        if quality > 0:
            ranked.append((-quality, index, primary))
    for _, _, primary in sorted(ranked):
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def tel(phone: str) -> Markup:
    """A phone number as a `tel:` link showing the number as written."""
    if not phone:
        return Markup("")
    return Markup('<a class="tel" href="{}">{}</a>').format(phones.tel_uri(phone), phone)


def render_page(template: str, language: str, tz: ZoneInfo, **params: Any) -> str:
    """The page `template` (templates/web/NAME.html) in `language`."""
    messages = Messages(language)

    def t(key: str, **fields: Any) -> str:
        return messages.text("web", key, **fields)

    def local(instant: datetime, form: str = "%Y-%m-%d %H:%M") -> str:
        return instant.astimezone(tz).strftime(form)

    names = chat_names(language)
    command = names["track_command"]

    def ask(track: Track, service: str) -> str:
        """How to ask `service` on `track`, as `!rutin` writes it: "!konsult kardiologi …"."""
        return f"{command[track.value]} {service}{',' if track is Track.MDK else ''} …"

    def ways(instead: Instead, service: str) -> str:
        """The paths open instead: "!akut kardiologi, !vc"."""
        found = [f"{command[t.value]} {service}" for t in instead.tracks]
        return ", ".join(
            [*found, command[Track.PRIMARVARD.value]] if instead.primary_care else found
        )

    helpers = {
        "t": t,
        "tel": tel,
        "local": local,
        "language": language,
        "hours": lambda hours: hours_text(hours, language),
        "path_name": lambda track: str(names["track"][track.value]),
        "kind_names": lambda kinds: ", ".join(names["requester_kind"][k.value] for k in kinds),
        "ask": ask,
        "ways": ways,
    }
    page = environment(html=True).get_template(f"web/{template}")
    return page.render(**helpers, **params)
