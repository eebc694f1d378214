"""The command line's own words in Swedish: argparse's usage, help and error texts, and the
help of every verb and option (templates/messages/sv.toml, sections [argparse] and [help]).

The parser is built before the config is read, so its language cannot follow
`bot.language`: help and usage errors are always Swedish (docs/decisions.md)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import tomllib
from collections.abc import Iterator
from typing import Any, TextIO

from consultbot.resources import templates_dir


@functools.cache
def _texts() -> dict[str, dict[str, str]]:
    with (templates_dir() / "cli" / "sv.toml").open("rb") as handle:
        return tomllib.load(handle)


def help_text(key: str, /, **params: Any) -> str:
    """The help of a verb or option (argparse itself formats `%` in it: none is used)."""
    return _texts()["help"][key].format(**params)


def translate(message: str) -> str:
    """argparse's English text in Swedish; as it is when there is no translation."""
    return _texts()["argparse"].get(message, message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return translate(singular if count == 1 else plural)


class SwedishParser(argparse.ArgumentParser):
    """An ArgumentParser whose error line is Swedish (`swedish_argparse` does the rest)."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        fields = {"prog": self.prog, "message": message}
        self.exit(2, translate("%(prog)s: error: %(message)s\n") % fields)


@contextlib.contextmanager
def swedish_argparse(err: TextIO, out: TextIO | None = None) -> Iterator[None]:
    """argparse speaks Swedish inside the block; its help goes to `out`, errors to `err`."""
    original = argparse._  # type: ignore[attr-defined]
    original_n = argparse.ngettext  # type: ignore[attr-defined]
    argparse._ = translate  # type: ignore[attr-defined]
    argparse.ngettext = _ngettext  # type: ignore[attr-defined]
    try:
        with contextlib.redirect_stderr(err):
            if out is None:
                yield
            else:
                with contextlib.redirect_stdout(out):
                    yield
    finally:
        argparse._ = original  # type: ignore[attr-defined]
        argparse.ngettext = original_n  # type: ignore[attr-defined]
