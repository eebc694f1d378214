"""A scripted month of consults (November 2026) through the real state machine into a store.

`november(store)` records ten requests; the comments say what each adds to November's numbers,
and the tests that use it (`consultbot stats`, the stats store, the report) work their expected
figures out by hand from them.
"""

from __future__ import annotations

from datetime import timedelta

from consultbot.adapters.sql.sqlite import SqliteStore
from consultbot.domain.types import Outcome, Track
from tests.support.scripted import Script, level_user, local

S = timedelta(seconds=1)
MORA = "@doktor.vc:localhost"  # vc-mora in the example staff list
MORA2 = "@magnus.ekstrom:localhost"  # vc-mora
FALUN = "@astrid.grahn:localhost"  # vc-falun-norr
FALUN2 = "@gustav.sall:localhost"  # vc-falun-norr
STRANGER = "@okand.person:localhost"  # not in the staff list


async def november(store: SqliteStore, *, freeze: bool = True) -> None:
    """The script; the comments say what each consult adds to November's numbers. Without
    `freeze`, the requests record no unit or kind (as before issue 23)."""
    k = Script(store, freeze=freeze)
    kard1, kard2 = level_user("kardiologi", 1), level_user("kardiologi", 2)
    neuro1 = level_user("neurologi", 1)

    # 1. halvakut kardiologi, vc-mora: ack after 60 s, two phone contacts, advice.
    t = local("2026-11-02 09:00")
    c = await k.request(MORA, "kardiologi", t)
    await k.ack(c, kard1, t + 60 * S)
    await k.call(c, MORA, t + 90 * S)
    await k.call(c, kard1, t + 95 * S)
    await k.close(c, kard1, Outcome.ADVICE, t + 900 * S)

    # 2. halvakut kardiologi, vc-falun-norr: no ack in 600 s → level 2, ack at 700 s, referral.
    t = local("2026-11-03 10:00")
    c = await k.request(FALUN, "kardiologi", t)
    await k.timer(c, t + 600 * S)
    await k.ack(c, kard2, t + 700 * S)
    await k.close(c, FALUN, Outcome.REFERRAL, t + 1500 * S)

    # 3. akut neurologi, unknown requester: both levels time out → unanswered, never closed.
    t = local("2026-11-10 08:00")
    c = await k.request(STRANGER, "neurologi", t, Track.AKUT)
    await k.timer(c, t + 600 * S)
    await k.timer(c, t + 1200 * S)

    # 4. halvakut neurologi, vc-mora: ack after 200 s, reminder, auto-closed as unknown.
    t = local("2026-11-16 13:00")
    c = await k.request(MORA, "neurologi", t)
    await k.ack(c, neuro1, t + 200 * S)
    await k.timer(c, t + 200 * S + timedelta(hours=4))
    await k.timer(c, t + 200 * S + timedelta(hours=24))

    # 5. halvakut kardiologi, vc-falun-norr, late on the last local day: closed after 30 s
    #    by the consultant with admission (closing acknowledges).
    t = local("2026-11-30 23:30")
    c = await k.request(FALUN2, "kardiologi", t)
    await k.close(c, kard1, Outcome.ADMISSION, t + 30 * S)

    # 6. outside November in local time (but 2026-11-30 in UTC): not counted.
    t = local("2026-12-01 00:30")
    c = await k.request(MORA, "kardiologi", t)
    await k.close(c, kard1, Outcome.ADVICE, t + 10 * S)

    # 7. outside November in local time (2026-10-31 in UTC too): not counted.
    t = local("2026-10-31 23:30")
    c = await k.request(MORA, "kardiologi", t)
    await k.close(c, kard1, Outcome.ADVICE, t + 10 * S)

    # 8. out of hours, offered, never queued, lapsed: not a consult.
    t = local("2026-11-07 20:00")
    opens = local("2026-11-09 08:00")
    c = await k.request(MORA2, "kardiologi", t, opens_at=opens)
    await k.timer(c, opens)

    # 9. out of hours, queued, paged at the opening, ack after 100 s, visit; vc-mora.
    t = local("2026-11-14 20:00")
    opens = local("2026-11-16 08:00")
    c = await k.request(MORA2, "kardiologi", t, opens_at=opens)
    await k.queue(c, MORA2, t + 60 * S)
    await k.timer(c, opens)
    await k.ack(c, kard1, opens + 100 * S)
    await k.close(c, kard1, Outcome.VISIT, opens + 600 * S)

    # 10. a conference of kardiologi and neurologi from vc-mora: ack after 400 s, one phone
    #     contact, other.
    await k.conference(
        MORA, ["kardiologi", "neurologi"], local("2026-11-20 14:00"), 400, Outcome.OTHER
    )
