"""`consultbot demo`'s scripted conversation, run on the suite's homeserver."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from consultbot.config import load_config
from consultbot.devkit.demo import Transcript, run_demo
from consultbot.devkit.synapse import EmbeddedHomeserver
from consultbot.resources import example_config

pytestmark = [pytest.mark.integration]


async def test_demo_transcript_shows_the_whole_consult(
    homeserver: EmbeddedHomeserver, tmp_path: Path
) -> None:
    out = io.StringIO()
    await run_demo(load_config(example_config(), environ={}), homeserver, tmp_path, Transcript(out))
    text = out.getvalue()
    steps = [
        "!konsult kardiologi",
        "Konsultation K-000001 till Kardiologi",
        "Karin Kardiolog: konsultation K-000001",
        "jag söker nivå 2 (bakjour)",
        "Bo Bakjour: konsultation K-000001",
        "Bo Bakjour har kvitterat",
        "är avslutad: råd – remiss undviken",
        "klart",
    ]
    positions = [text.find(step) for step in steps]
    assert -1 not in positions, text
    assert positions == sorted(positions), text
