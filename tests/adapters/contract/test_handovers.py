"""The handover port (`Handovers`) on every backend, and its layer over the roster."""

from __future__ import annotations

from consultbot.domain.duty.handover import HandoverState
from consultbot.ports import DataStore
from tests.adapters.contract.duty_values import (
    CATALOGUE,
    KARDIO,
    NOW,
    at,
    handover,
    periods,
    shift,
)


async def test_an_accepted_handover_is_laid_over_the_roster_for_its_period(
    data_store: DataStore,
) -> None:

    await data_store.import_catalogue(CATALOGUE, source="c", now=NOW)
    day = [shift(KARDIO, 1, at(1, 8), 10, "anna"), shift(KARDIO, 2, at(1, 8), 10, "bo")]
    await data_store.import_roster(day, periods(day), source="r", now=NOW)
    [offered] = await data_store.add_handovers([handover("anna", "cilla", at(1, 10), at(1, 14))])
    assert offered.id > 0
    # Offered is not accepted: the roster's person is still on duty.
    assert [s.user for s in (await data_store.on_duty(KARDIO, at(1, 11))).level(1)] == [
        "@anna:localhost"
    ]
    accepted = await data_store.decide_handover(offered.id, HandoverState.ACCEPTED, now=at(1, 10))
    assert accepted is not None and accepted.state is HandoverState.ACCEPTED
    # Decided once: a lapse after the acceptance changes nothing.
    assert await data_store.decide_handover(offered.id, HandoverState.LAPSED, now=at(1, 11)) is None
    [cover] = (await data_store.on_duty(KARDIO, at(1, 11))).level(1)
    assert (cover.user, cover.name, cover.phone) == ("@cilla:localhost", "Cilla", "070-999 99 99")
    assert [s.user for s in (await data_store.on_duty(KARDIO, at(1, 11))).level(2)] == [
        "@bo:localhost"
    ]
    # Before and after its period the roster stands; it ends by itself.
    assert [s.user for s in (await data_store.on_duty(KARDIO, at(1, 9))).level(1)] == [
        "@anna:localhost"
    ]
    assert [s.user for s in (await data_store.on_duty(KARDIO, at(1, 15))).level(1)] == [
        "@anna:localhost"
    ]
    level1 = [(s.user, s.start, s.end) for s in await data_store.shifts(KARDIO) if s.level == 1]
    assert level1 == [
        ("@anna:localhost", at(1, 8), at(1, 10)),
        ("@cilla:localhost", at(1, 10), at(1, 14)),
        ("@anna:localhost", at(1, 14), at(1, 18)),
    ]
    # A roster import keeps the handover: it is a layer, not a change to the roster.
    again = [shift(KARDIO, 1, at(1, 8), 10, "anna"), shift(KARDIO, 2, at(1, 8), 10, "bo")]
    await data_store.import_roster(again, periods(again), source="r2", now=NOW)
    assert [s.user for s in (await data_store.on_duty(KARDIO, at(1, 11))).level(1)] == [
        "@cilla:localhost"
    ]
    assert [h.state for h in await data_store.handovers()] == [HandoverState.ACCEPTED]
