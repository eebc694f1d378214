"""Identifiers and enumerations shared by the whole domain."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

ServiceId = NewType("ServiceId", str)
UserId = NewType("UserId", str)
ConsultId = NewType("ConsultId", str)


class Track(StrEnum):
    """The contact paths (kontaktvägar) of Region Dalarna's plan."""

    HALVAKUT = "halvakut"
    AKUT = "akut"
    PRIMARVARD = "primarvard"
    MDK = "mdk"


class ServiceKind(StrEnum):
    """What kind of unit a catalogue service is."""

    SPECIALTY = "specialty"
    PRIMARY_CARE = "primary_care"
    OTHER = "other"


class Dataset(StrEnum):
    """The versioned data sets an admin uploads."""

    CATALOGUE = "catalogue"
    ROSTER = "roster"
    STAFF = "staff"
    DIRECTORY = "directory"


class Outcome(StrEnum):
    """How a consult ended. UNKNOWN is set only by the automatic close, never typed."""

    ADVICE = "advice"
    REFERRAL = "referral"
    ADMISSION = "admission"
    ED = "ed"
    VISIT = "visit"
    OTHER = "other"
    UNKNOWN = "unknown"
