"""Demo usage for the analytics dashboard: ~90 days of page views and logins by the demo registrants.

Weekdays are busier than weekends, a few registrants use the site often and most now and then, and
article reads go to the published demo articles (if the articles demo ran first). The rows are committed
(with whatever the demo loader had pending) and the daily summaries made, so the dashboard opens with
its charts filled.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.analytics.models import PageView
from app.analytics.recording import LOGIN_ENDPOINT
from app.analytics.rollup import rollup
from app.core.timeutil import tokyo_day_start_utc, tokyo_today, utcnow
from app.registrants.models import Registrant, RegistrantStatus

DAYS = 90
SCREENS = ["portal.index", "portal.me", "portal_inbox.index", "portal_events.index", "portal_surveys.index",
           "portal_articles.index", "portal_postings.index", "portal.guide"]


def load(session: Session, rng: random.Random) -> int:
    """Insert the demo page views (unless there are any already); returns how many rows were added."""
    if session.scalar(sa.select(sa.func.count()).select_from(PageView)):
        return 0
    people = list(session.scalars(sa.select(Registrant.id).where(
        Registrant.source == "demo", Registrant.status == RegistrantStatus.ACTIVE.value).order_by(Registrant.id)))
    if not people:
        return 0
    articles = _published_article_ids(session)
    regulars = people[: max(1, len(people) // 8)]
    today = tokyo_today()
    rows: list[dict[str, Any]] = []
    for back in range(DAYS, -1, -1):
        day = today - timedelta(days=back)
        visitors = rng.randint(6, 14) if day.weekday() < 5 else rng.randint(2, 6)
        chosen = set(rng.sample(regulars, min(len(regulars), visitors // 2)))
        chosen |= set(rng.sample(people, min(len(people), visitors - len(chosen))))
        midnight = tokyo_day_start_utc(day)
        for registrant_id in sorted(chosen):
            moment = midnight + timedelta(hours=rng.uniform(7, 23))
            rows.append(_row(moment, LOGIN_ENDPOINT, None, registrant_id))
            for _step in range(rng.randint(2, 7)):
                moment += timedelta(seconds=rng.randint(10, 240))
                if articles and rng.random() < 0.3:
                    rows.append(_row(moment, "portal_articles.show", rng.choice(articles), registrant_id))
                else:
                    rows.append(_row(moment, rng.choice(SCREENS), None, registrant_id))
        for _anonymous in range(rng.randint(3, 12)):  # the public pages, before anyone logs in
            rows.append(_row(midnight + timedelta(hours=rng.uniform(6, 23)),
                             rng.choice(["portal.index", "signup.register"]), None, None))
    now = utcnow()
    rows = [row for row in rows if row["viewed_at"] < now]
    session.execute(sa.insert(PageView), rows)
    session.commit()
    rollup(session, days=DAYS + 1)
    return len(rows)


def _row(moment: Any, endpoint: str, subject_id: int | None, registrant_id: int | None) -> dict[str, Any]:
    return {"viewed_at": moment.replace(microsecond=0), "endpoint": endpoint, "subject_id": subject_id,
            "registrant_id": registrant_id}


def _published_article_ids(session: Session) -> list[int]:
    from app.articles.models import Article

    return list(session.scalars(sa.select(Article.id).where(Article.publish_at.is_not(None),
                                                            Article.publish_at <= utcnow())))
