"""Demo data for the pamphlet: one saved version of the text, so the history is not empty. Idempotent."""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.pamphlet.models import PamphletText
from app.pamphlet.services import default_pamphlet

DEMO_CLOSING_EXTRA = "窓口: つなぐ事務局(デモ市役所 3階) 電話 000-0000-0000 メール tsunagu-demo@example.com"


def load(session: Session, rng: random.Random) -> None:
    if session.scalar(sa.select(sa.func.count()).select_from(PamphletText)):
        return
    text = default_pamphlet()
    first_line = text.closing.split("\n")[0]
    session.add(PamphletText(title=text.title, lead=text.lead, benefits="\n".join(text.benefits),
                             closing=f"{first_line}\n{DEMO_CLOSING_EXTRA}", created_by_id=None))
    session.flush()
