"""All user-facing text, from jinja2 templates in templates/ (Swedish first, English second)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from typing import Any

import jinja2

from consultbot.domain.errors import Problem
from consultbot.resources import templates_dir

LANGUAGES = ("sv", "en")


@lru_cache(maxsize=4)
def _catalogue(language: str) -> dict[str, dict[str, str]]:
    path = templates_dir() / "messages" / f"{language}.toml"
    with path.open("rb") as handle:
        data: dict[str, dict[str, str]] = tomllib.load(handle)
    return data


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment over templates/ (autoescape for .html templates)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=512)
def _compiled(language: str, section: str, key: str) -> jinja2.Template:
    source = _catalogue(language)[section][key]
    return environment().from_string(source)


class Messages:
    """Renders message-catalogue entries in one language."""

    def __init__(self, language: str = "sv") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        self.language = language

    def text(self, section: str, key: str, **params: Any) -> str:
        """The message `section.key` with its fields filled in."""
        return _compiled(self.language, section, key).render(**params)

    def cli(self, key: str, **params: Any) -> str:
        """A CLI message."""
        return self.text("cli", key, **params)

    def problem(self, problem: Problem) -> str:
        """One line for a data-file problem: `file:line: reason`."""
        where = f"{problem.file}:{problem.line}" if problem.line else problem.file
        return f"{where}: {self.text('problem', problem.code, **problem.params)}"

    def dataset(self, name: str) -> str:
        """The human name of a data set ("Schemat", …)."""
        return self.text("dataset", name)


def keys(language: str) -> dict[str, set[str]]:
    """Every message key by section, for checking that both languages have the same."""
    return {section: set(entries) for section, entries in _catalogue(language).items()}
