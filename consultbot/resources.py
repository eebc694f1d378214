"""Where the shipped templates and example data are, installed or in a source checkout.

In a wheel they live inside the package (`consultbot/templates`, `consultbot/example_data`);
in a checkout (editable install) they are the project's top-level `templates/` and `rosters/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _first(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return candidates[-1]


def templates_dir() -> Path:
    """The folder of jinja2 templates and message catalogues."""
    return _first(_PACKAGE / "templates", _PACKAGE.parent / "templates")


def example_data_dir() -> Path:
    """The folder of example catalogue, rosters, staff list and directory."""
    return _first(_PACKAGE / "example_data", _PACKAGE.parent / "rosters")


def example_config() -> Path:
    return _first(
        _PACKAGE / "example_data" / "config.example.toml", _PACKAGE.parent / "config.example.toml"
    )
