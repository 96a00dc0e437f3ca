"""Load the demo data set. Idempotent: a second call changes nothing and returns no new logins."""

from __future__ import annotations

import random
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import audit
from app.auth.passwords import hash_password, policy_errors
from app.codes.models import Code
from app.core.timeutil import fiscal_year_end, utcnow
from app.demo.data import CODE_MASTERS, DEMO_NEWS, DEMO_POSTINGS, DEMO_VIDEO, FAMILY_NAMES, GIVEN_NAMES
from app.news.models import NewsItem, VideoLink
from app.postings.models import JobPosting, PostingCodeRole, PostingStatus, posting_code
from app.registrants.models import Registrant, RegistrantStatus
from app.registrants.normalise import name_key, registrant_search_text
from app.staff.models import Role, StaffUser

DEMO_STAFF = [
    ("admin@example.com", "デモ 管理者", Role.ADMINISTRATOR),
    ("editor@example.com", "デモ 更新担当", Role.EDITOR),
    ("viewer@example.com", "デモ 閲覧担当", Role.VIEWER),
]
DEMO_REGISTRANT_EMAIL = "registrant@example.com"


@dataclass(frozen=True)
class DemoLogin:
    kind: str
    email: str
    role: str
    password: str


def generate_password(login: str) -> str:
    """A random password that satisfies the default policy."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(16))
        if not policy_errors(candidate, login, min_length=12, require_classes=True):
            return candidate


def load_demo(session: Session, registrant_count: int = 200, seed: int = 20260401,
              progress: Callable[[int], Any] | None = None) -> list[DemoLogin]:
    """Create code masters, registrants (some tagged), demo staff, news and a video unless they exist. Returns new logins only.

    `progress(n)` is called as registrants are created, n at a time.
    """
    if demo_present(session):
        return []
    codes = _load_codes(session)
    logins = [_staff(session, email, name, role) for email, name, role in DEMO_STAFF]
    logins.append(_registrants(session, codes, registrant_count, random.Random(seed), progress))
    _news_and_video(session)
    _postings(session, codes)
    _network(session, random.Random(seed + 1))
    audit.record(session, audit.SYSTEM, "demo.load", "demo:*",
                 {"registrants": registrant_count, "staff": len(DEMO_STAFF), "postings": len(DEMO_POSTINGS)})
    session.commit()
    return logins


# each alumni-network capability loads its own demo content; order matters (inquiries reply into the inbox,
# analytics reads the articles)
NETWORK_DEMOS = ("app.articles.demo", "app.surveys.demo", "app.events.demo", "app.inbox.demo",
                 "app.inquiries.demo", "app.pamphlet.demo", "app.analytics.demo")


def _network(session: Session, rng: random.Random) -> None:
    from importlib import import_module

    session.flush()
    for module in NETWORK_DEMOS:
        import_module(module).load(session, rng)
        session.flush()


def demo_present(session: Session) -> bool:
    """Demo data is only loaded into a database that has no staff user yet."""
    return bool(session.scalar(sa.select(sa.func.count()).select_from(StaffUser)))


def _load_codes(session: Session) -> dict[str, list[Code]]:
    existing = {(c.kind, c.code): c for c in session.scalars(sa.select(Code))}
    by_kind: dict[str, list[Code]] = {}
    for kind, entries in CODE_MASTERS.items():
        for order, (code, label, label_en) in enumerate(entries, start=1):
            row = existing.get((kind, code))
            if row is None:
                row = Code(kind=kind, code=code, label=label, label_en=label_en, sort_order=order * 10)
                session.add(row)
            by_kind.setdefault(kind, []).append(row)
    session.flush()
    return by_kind


def _staff(session: Session, email: str, name: str, role: Role) -> DemoLogin:
    password = generate_password(email)
    session.add(StaffUser(email=email, display_name=name, role=role.value, password_hash=hash_password(password)))
    return DemoLogin("staff", email, role.value, password)


def _registrants(session: Session, codes: dict[str, list[Code]], count: int, rng: random.Random,
                 progress: Callable[[int], Any] | None) -> DemoLogin:
    today = utcnow().date()
    this_year_end = fiscal_year_end(today)
    password = generate_password(DEMO_REGISTRANT_EMAIL)
    tag_rng = random.Random(count)  # its own stream, so tags leave the rest of the demo data as it was
    wish_rng = random.Random(f"wishes-{count}")  # likewise for desired work regions and posting mails
    for n in range(1, count + 1):
        family, family_kana = rng.choice(FAMILY_NAMES)
        given, given_kana = rng.choice(GIVEN_NAMES)
        expired = n > 1 and rng.random() < 0.1
        registrant = Registrant(
            external_id=f"DEMO-{n:05d}",
            family_name=family, given_name=given, family_name_kana=family_kana, given_name_kana=given_kana,
            birth_date=date(1955, 1, 1) + timedelta(days=rng.randrange(0, 48 * 365)),
            email=DEMO_REGISTRANT_EMAIL if n == 1 else f"registrant{n:03d}@example.com",
            phone=f"000-0000-{n:04d}",
            region_id=rng.choice(codes["region"]).id,
            status=RegistrantStatus.EXPIRED.value if expired else RegistrantStatus.ACTIVE.value,
            registered_at=utcnow() - timedelta(days=rng.randrange(0, 700)),
            valid_until=date(this_year_end.year - 1, 3, 31) if expired else this_year_end,
            password_hash=hash_password(password) if n == 1 else None,
            source="demo", name_key=name_key(family, given),
            search_text=registrant_search_text(family, given, family_kana, given_kana),
        )
        registrant.codes = _pick_codes(codes, rng) + _pick_tags(codes, tag_rng) + _pick_desired_regions(codes, wish_rng)
        registrant.posting_notice_opt_in = wish_rng.random() < 0.3
        session.add(registrant)
        if progress:
            progress(1)
    return DemoLogin("registrant", DEMO_REGISTRANT_EMAIL, "registrant", password)


def _pick_codes(codes: dict[str, list[Code]], rng: random.Random) -> list[Any]:
    picked: list[Code] = []
    for kind, most in (("licence", 2), ("subject", 2), ("job_type", 2), ("school_type", 2)):
        picked += rng.sample(codes[kind], rng.randint(1, most))
    return picked


def _pick_tags(codes: dict[str, list[Code]], rng: random.Random) -> list[Code]:
    """About a third of the registrants carry staff tags (説明会参加, 面談済み, 要連絡)."""
    return rng.sample(codes["tag"], rng.randint(1, 2)) if rng.random() < 0.3 else []


def _pick_desired_regions(codes: dict[str, list[Code]], rng: random.Random) -> list[Code]:
    """About half of the registrants name one to three municipalities they would work in."""
    return rng.sample(codes["region"], rng.randint(1, 3)) if rng.random() < 0.5 else []


def _postings(session: Session, codes: dict[str, list[Code]]) -> None:
    """The fictitious postings of DEMO_POSTINGS, dated relative to today, created by the demo editor."""
    by_code = {(code.kind, code.code): code for entries in codes.values() for code in entries}
    editor_id = session.scalar(sa.select(StaffUser.id).where(StaffUser.email == DEMO_STAFF[1][0]))
    now = utcnow().replace(second=0, microsecond=0)
    today = now.date()
    for n, (title, school, school_type, region, job_type, employment, subjects, required, preferred, period,
            days_hours, openings, description, status, window, shown) in enumerate(DEMO_POSTINGS, start=1):
        start, length = period
        posting = JobPosting(
            title=title, school_name=school, school_type_id=by_code["school_type", school_type].id,
            region_id=by_code["region", region].id, job_type_id=by_code["job_type", job_type].id,
            employment_type_id=by_code["employment_type", employment].id,
            period_start=today + timedelta(days=start),
            period_end=today + timedelta(days=start + length) if length is not None else None,
            days_hours=days_hours, openings=openings, description=description,
            contact=f"{school} 事務室 電話 000-000-{n:04d} メール school{n:02d}@example.com",
            status=status, show_in_portal=shown, created_by_id=editor_id,
            publish_from=now + timedelta(days=window[0]) if window else None,
            publish_until=now + timedelta(days=window[1]) if window and window[1] is not None else None,
            closed_at=now - timedelta(days=1) if status in {PostingStatus.FILLED, PostingStatus.CLOSED} else None)
        session.add(posting)
        session.flush()
        rows = [{"posting_id": posting.id, "code_id": by_code[kind, value].id, "role": role.value}
                for role, kind, values in ((PostingCodeRole.SUBJECT, "subject", subjects),
                                           (PostingCodeRole.REQUIRED_LICENCE, "licence", required),
                                           (PostingCodeRole.PREFERRED_LICENCE, "licence", preferred))
                for value in values]
        if rows:
            session.execute(sa.insert(posting_code), rows)


def _news_and_video(session: Session) -> None:
    now = utcnow().replace(second=0, microsecond=0)
    for title, body, since_days, until_days in DEMO_NEWS:
        session.add(NewsItem(title=title, body=body, publish_from=now - timedelta(days=since_days),
                             publish_until=now + timedelta(days=until_days) if until_days is not None else None))
    title, video_id, description = DEMO_VIDEO
    session.add(VideoLink(title=title, video_id=video_id, description=description, sort_order=10))
