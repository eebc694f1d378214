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
    AMBULANCE = "ambulance"  # asks (the fourth path), is not paged
    MUNICIPAL_CARE = "municipal_care"  # asks (the fourth path), is not paged
    OTHER = "other"


class RequesterKind(StrEnum):
    """What kind of unit asked for a consult (SPEC §6, §7), frozen at request time: from the
    requester's unit in the staff list and that unit's kind in the catalogue."""

    PRIMARY_CARE = "primary_care"  # vårdcentral
    HOSPITAL = "hospital"  # sjukhus (a specialty)
    AMBULANCE = "ambulance"  # ambulans
    MUNICIPAL_CARE = "municipal_care"  # kommun
    OTHER = "other"  # övrigt
    UNKNOWN = "unknown"  # okänd: not on the staff list, or a unit the catalogue does not name


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
    # The fourth path's (tillgänglig primärvård) own outcomes; it shares ed, admission, other.
    HOME = "home"  # hemma: finished on site / stays home
    PRIMARY_CARE = "primary_care"  # vårdcentral: steered to the vårdcentral
    HOME_VISIT = "home_visit"  # hembesök: the doctor's home visit
