"""The one service catalogue, hours and time zone that the roster tests share."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from consultbot.domain.duty.catalogue import Catalogue, parse_catalogue
from consultbot.domain.duty.hours import Hours
from consultbot.domain.types import Track

TZ = ZoneInfo("Europe/Stockholm")

CATALOGUE_TOML = """
[[service]]
id = "kardiologi"
name = "Kardiologi, Falu lasarett"
kind = "specialty"
tracks = ["halvakut", "akut", "mdk"]
aliases = ["hjärta", "kardio"]
switchboard = "023-49 00 00"

[[service]]
id = "radiologi"
name = "Radiologi, Falu lasarett"
kind = "specialty"
tracks = ["halvakut"]
aliases = ["röntgen"]
switchboard = "023-49 00 00"

[[service]]
id = "vc-mora"
name = "Vårdcentralen Mora"
kind = "primary_care"
tracks = ["primarvard"]
municipality = "Mora"
switchboard = "0250-49 30 00"
"""


def _catalogue() -> Catalogue:
    catalogue, problems = parse_catalogue(CATALOGUE_TOML, "services.toml")
    assert problems == []
    return catalogue


CATALOGUE = _catalogue()
HOURS = {
    Track.HALVAKUT: Hours.parse("weekdays 08:00-17:00"),
    Track.AKUT: Hours.parse("always"),
    Track.PRIMARVARD: Hours.parse("weekdays 08:00-17:00"),
    Track.MDK: Hours.parse("always"),
}
