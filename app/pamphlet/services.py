"""The registration pamphlet (案内チラシ, N11): its current text, saving a new version, the QR code."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno
import sqlalchemy as sa
from flask import url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy.orm import Session

from app import audit
from app.pamphlet.models import PamphletText
from app.staff.models import StaffUser

TITLE_MAX = 200
LEAD_MAX = 1000
CLOSING_MAX = 1000
BENEFITS_MAX = 10
BENEFIT_MAX = 200
HISTORY_SHOWN = 10

DEFAULT_TITLE = _l("経験を、もう一度学校で。「つなぐ」に登録しませんか")
DEFAULT_LEAD = _l(
    "「つなぐ」は、教員や学校職員として働いた経験のある方と、人を求めている学校・教育委員会を結ぶ登録者ネットワークです。"
    "登録は無料で、スマートフォンからいつでも登録内容を確認・変更できます。"
    "ご自身の都合に合わせて、できる範囲で教育に関わる機会を見つけてください。")
DEFAULT_BENEFITS = (
    _l("復職・再任用を考えている教員・学校職員の方へ、講師や支援員などの求人情報をいち早くお届けします。"),
    _l("元教職員どうしや現役の先生と交流できるイベント・研修会のご案内が届きます。"),
    _l("学校の今を伝える記事やお知らせを、サイトとメールで読めます。"),
    _l("アンケートへの回答を通じて、皆さんの声を人材確保や研修の企画に生かします。"),
    _l("希望する地域・教科・働き方を登録しておけば、条件に合うお知らせを受け取れます。"),
    _l("登録情報は事務局が厳重に管理し、ご本人の同意なく外部に提供することはありません。"),
)
DEFAULT_CLOSING = _l(
    "QRコードをスマートフォンのカメラで読み取ると、登録のページが開きます。ホーム画面に追加すれば、アプリのように使えます。\n"
    "お問い合わせ: つなぐ事務局 電話 000-0000-0000(平日 9時〜17時) メール tsunagu@example.com")


@dataclass(frozen=True)
class Pamphlet:
    title: str
    lead: str
    benefits: list[str]
    closing: str
    text_id: int | None = None  # None: the built-in default text

    @property
    def benefits_text(self) -> str:
        return "\n".join(self.benefits)


@dataclass(frozen=True)
class SavedVersion:
    id: int
    title: str
    created_at: datetime
    staff_name: str | None


def split_benefits(text: str) -> list[str]:
    """The benefits as typed: one per line, blank lines and surrounding spaces dropped."""
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def default_pamphlet() -> Pamphlet:
    return Pamphlet(title=str(DEFAULT_TITLE), lead=str(DEFAULT_LEAD), benefits=[str(b) for b in DEFAULT_BENEFITS],
                    closing=str(DEFAULT_CLOSING))


def current(session: Session) -> Pamphlet:
    """The newest saved text, or the built-in default when staff never saved one."""
    row = session.scalar(sa.select(PamphletText).order_by(PamphletText.created_at.desc(), PamphletText.id.desc())
                         .limit(1))
    if row is None:
        return default_pamphlet()
    return Pamphlet(title=row.title, lead=row.lead, benefits=split_benefits(row.benefits), closing=row.closing or "",
                    text_id=row.id)


def save(session: Session, actor: Any, *, title: str, lead: str, benefits: str, closing: str,
         ip: str | None) -> PamphletText:
    """Store a new version (earlier ones stay as history) and audit it."""
    items = split_benefits(benefits)
    row = PamphletText(title=title.strip(), lead=lead.replace("\r\n", "\n").strip(), benefits="\n".join(items),
                       closing=closing.replace("\r\n", "\n").strip() or None, created_by_id=getattr(actor, "id", None))
    session.add(row)
    session.flush()
    audit.record(session, actor, "pamphlet.save", f"pamphlet_text:{row.id}", {"benefits": len(items)}, ip)
    return row


def history(session: Session, limit: int = HISTORY_SHOWN) -> list[SavedVersion]:
    rows = session.execute(
        sa.select(PamphletText.id, PamphletText.title, PamphletText.created_at, StaffUser.display_name)
        .outerjoin(StaffUser, StaffUser.id == PamphletText.created_by_id)
        .order_by(PamphletText.created_at.desc(), PamphletText.id.desc()).limit(limit))
    return [SavedVersion(id=r.id, title=r.title, created_at=r.created_at, staff_name=r.display_name) for r in rows]


# --- the QR code -------------------------------------------------------------------------------------

def _qr(url: str) -> segno.QRCode:
    # level M as asked for printed matter; no boost, so the level is what the pamphlet says it is
    return segno.make(url, error="m", micro=False, boost_error=False)


def qr_svg(url: str, label: str) -> Markup:
    """The QR code as inline SVG (scales with CSS, crisp in print), labelled for screen readers."""
    svg = _qr(url).svg_inline(omitsize=True, svgclass="pamphlet-qr-code", lineclass=None, title=label)
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704 (segno's own markup; label is escaped)  # nosec B704


def qr_png(url: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    _qr(url).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def registration_url(settings: Any) -> str:
    """Where the QR code leads: the sign-up page while self-registration is open, otherwise the page that
    explains how to add the portal to the home screen (registrants then log in from there)."""
    endpoint = "signup.register" if settings.self_registration != "off" else "pwa.install"
    return str(settings.public_url(url_for(endpoint)))


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules (True = dark) including the 4-module quiet zone, for drawing it in a PDF."""
    return [[bool(module) for module in row] for row in _qr(url).matrix_iter(scale=1, border=4)]
