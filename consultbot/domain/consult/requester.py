"""Who asked, frozen at request time (SPEC §6-§7): the requester's unit and what kind of unit.

Pure. The unit is the requester's unit in the active staff list, as a catalogue service id;
the kind follows that service's kind in the catalogue. A requester not on the staff list, or
whose unit the catalogue does not name, is `unknown` with no unit ("", shown as okänd). Once
recorded in the consult's `requested` entry, a later staff list or catalogue changes nothing.
"""

from __future__ import annotations

from consultbot.domain.duty.catalogue import Catalogue
from consultbot.domain.types import RequesterKind, ServiceKind

_KIND_OF_SERVICE = {
    ServiceKind.SPECIALTY: RequesterKind.HOSPITAL,
    ServiceKind.PRIMARY_CARE: RequesterKind.PRIMARY_CARE,
    ServiceKind.AMBULANCE: RequesterKind.AMBULANCE,
    ServiceKind.MUNICIPAL_CARE: RequesterKind.MUNICIPAL_CARE,
    ServiceKind.OTHER: RequesterKind.OTHER,
}


def frozen_requester(unit: str | None, catalogue: Catalogue) -> tuple[str, RequesterKind]:
    """(unit, kind) to record for a requester whose staff-list unit is `unit` (None: not on
    the staff list): the unit as the catalogue's service id, or ("", unknown)."""
    service = catalogue.find(unit) if unit else None
    if service is None:
        return "", RequesterKind.UNKNOWN
    return service.id, _KIND_OF_SERVICE[service.kind]
