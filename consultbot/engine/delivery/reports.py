"""The follow-up report of a month for the admins (`report` outbox entries)."""

from __future__ import annotations

from datetime import date

from markupsafe import escape

from consultbot.engine.delivery.rooms import PrivateRooms
from consultbot.ports import Content, Messenger, OutboxItem, Stats
from consultbot.text.render import Messages
from consultbot.text.report import CHART_SIZE, month_report
from consultbot.text.views import ConsultRenderer


async def send_report(
    item: OutboxItem,
    *,
    store: Stats,
    messenger: Messenger,
    renderer: ConsultRenderer,
    rooms: PrivateRooms,
) -> None:
    """The follow-up report of a month, made now: a text table, then the chart (PNG)."""
    language = str(item.payload.get("language", "")) or renderer.language
    month = date.fromisoformat(f"{item.payload['month']}-01")
    made = await month_report(store, month, renderer.chat.tz, Messages(language))
    intro = renderer.render(
        "stats_report",
        language=language,
        month=f"{month:%Y-%m}",
        monthly=bool(item.payload.get("monthly")),
    )
    content = Content(
        text=f"{intro.text}\n\n{made.text}",
        html=f"{intro.html}\n<pre><code>{escape(made.text)}</code></pre>",
    )
    targets = [item.room] if item.room else await rooms.admin_rooms()
    width, height = CHART_SIZE
    for n, room in enumerate(targets):
        await messenger.send(room, content, txn=f"{item.txn}-{n}")
        await messenger.send_image(
            room,
            made.png,
            name=f"statistik-{month:%Y-%m}.png",
            width=width,
            height=height,
            txn=f"{item.txn}-{n}-png",
        )
