"""The plan's matrix on a real Synapse (issue 22, item 2): `!rutin` answers with the service's
routine; a consult's confirmation carries the have-ready list and its page says it was shown;
an ambulance crew asking on a path closed to it is shown the open ones, and nobody is paged."""

from __future__ import annotations

from pathlib import Path

import pytest

from consultbot.app import running_bot
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.domain.types import UserId

from .harness import CATALOGUE, QUESTION, from_bot, is_page, join_invite, world

pytestmark = [pytest.mark.integration]

ROUTINES = (
    CATALOGUE.replace(
        'switchboard = "023-49 00 00"\n',
        'switchboard = "023-49 00 00"\n\n'
        "[service.routine.halvakut]\n"
        'open_to = ["vårdcentral", "sjukhus"]\n'
        'have_ready = ["EKG", "senaste Hb", "aktuell medicinlista"]\n'
        'call_when = "Pågående bröstsmärta: ring kardiologjouren."\n'
        'documents = [{ label = "Gränsdragning hjärtsvikt", url = "https://example.org/hs" }]\n',
        1,
    )
    + '\n[[service]]\nid = "ambulans"\nname = "Ambulanssjukvården Dalarna"\nkind = "ambulance"\n'
)
READY = "EKG; senaste Hb; aktuell medicinlista"


async def test_routine_have_ready_list_and_the_closed_path(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    async with world(homeserver, tmp_path, "doctor", "l1", "crew") as w:
        config = w.config(ack_timeout=60)
        await w.seed(config, {1: ["l1"]}, catalogue=ROUTINES, units={"crew": "ambulans"})
        doctor, l1, crew = (w.people[k].c for k in ("doctor", "l1", "crew"))
        async with running_bot(config) as bot:
            dm = await doctor.create_dm(w.bot_id)
            await doctor.send_text(dm, "!rutin hjärta")
            routine = await doctor.wait_for(from_bot(w, dm, "så når du tjänsten"), 30)
            assert "Ha till hands:\n• EKG\n• senaste Hb\n• aktuell medicinlista" in routine.body
            assert "Ring i stället: Pågående bröstsmärta: ring kardiologjouren." in routine.body
            assert '<a href="https://example.org/hs">Gränsdragning hjärtsvikt</a>' in routine.html

            await doctor.send_text(dm, f"!konsult kardiologi {QUESTION}")
            created = await doctor.wait_for(from_bot(w, dm, "är skapad"), 30)
            assert f"Ha till hands enligt tjänstens rutin: {READY}." in created.body
            room = await join_invite(l1)
            page = await l1.wait_for(is_page(w.bot_id, room), 30)
            assert QUESTION in page.body
            assert f"Beställaren har ombetts ha till hands: {READY}." in page.body

            # The ambulance crew on the semi-urgent path: the acute line and !vc instead.
            crew_dm = await crew.create_dm(w.bot_id)
            await crew.send_text(crew_dm, f"!konsult kardiologi {QUESTION}")
            answer = await crew.wait_for(from_bot(w, crew_dm, "tar inte emot frågor"), 30)
            assert "från ambulanssjukvården via det halvakuta spåret" in answer.body
            assert "!akut kardiologi FRÅGA – akutspåret" in answer.body
            assert "!vc VÅRDCENTRAL-ELLER-KOMMUN FRÅGA" in answer.body
            # The answer is queued with the decision: by now no consult and no page exists.
            assert await bot.store.consults_of(UserId(w.people["crew"].user_id)) == []
            assert len([s for s in l1.seen if s.kind == "invite"]) == 1
            assert not [s for s in crew.seen if s.kind == "invite" and s.room != crew_dm]
