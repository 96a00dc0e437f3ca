"""Demo articles: two published (one on welcome-back hiring, one with an uploaded image), one scheduled
for next week, one draft. Idempotent: nothing happens if any article exists."""

from __future__ import annotations

import io
import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from app import audit
from app.articles import services, storage
from app.articles.markdown import image_src
from app.articles.models import Article
from app.codes.models import Code, CodeKind
from app.core.timeutil import utcnow
from app.staff.models import StaffUser

WELCOME_IMAGE_SIZE = (640, 360)


def demo_png(rng: random.Random) -> bytes:
    """A simple coloured figure: a sky, a school building with windows, and a sun."""
    image = Image.new("RGB", WELCOME_IMAGE_SIZE, (214, 232, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 280, 640, 360), fill=(120, 180, 110))
    draw.rectangle((170, 140, 470, 300), fill=(236, 222, 196), outline=(120, 90, 60), width=3)
    draw.polygon([(150, 140), (320, 70), (490, 140)], fill=(180, 70, 60))
    for column in range(4):
        for row in range(2):
            x, y = 195 + column * 70, 165 + row * 55
            draw.rectangle((x, y, x + 40, y + 32), fill=(120, 170, 220), outline=(80, 80, 80))
    sun_x = 540 + rng.randint(-20, 20)
    draw.ellipse((sun_x - 35, 35, sun_x + 35, 105), fill=(250, 200, 60))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _category(session: Session, code: str) -> int | None:
    return session.scalar(sa.select(Code.id).where(Code.kind == CodeKind.ARTICLE_CATEGORY.value, Code.code == code))


def _author(session: Session) -> Any:
    editor = session.scalars(sa.select(StaffUser).where(StaffUser.role == "editor").order_by(StaffUser.id)).first()
    return editor or audit.SYSTEM


def load(session: Session, rng: random.Random) -> None:
    if session.scalar(sa.select(sa.func.count()).select_from(Article)):
        return
    author = _author(session)
    now = utcnow().replace(second=0, microsecond=0)
    image = storage.store_image(session, current_app.instance_path, author, demo_png(rng), "welcome.png",
                                "image/png", 5 * 1024 * 1024)
    articles = [
        ("「つなぐ」で記事の配信を始めました", "登録者の皆さまに向けたお知らせや交流の記録を掲載します。", "notice",
         now - timedelta(days=10),
         "登録者の皆さま、いつもご協力ありがとうございます。\n\n"
         "このページでは、学校や教育委員会からのお知らせ、交流会の報告、研修の案内などを掲載していきます。\n\n"
         f"![校舎のイラスト]({image_src(image.id)})\n\n"
         "## 記事の読み方\n\n- 新しい記事は一覧の上に表示されます\n- 分類で絞り込むこともできます\n\n"
         "ご意見は「お問い合わせ」からお寄せください。"),
        ("学校現場への復職を考えている方へ(令和8年度の採用情報)", "臨時的任用・非常勤講師の募集の流れをまとめました。", "rehire",
         now - timedelta(days=3),
         "教職を離れた方の**復職**を歓迎しています。令和8年度の主な募集は次のとおりです。\n\n"
         "| 任用形態 | 募集時期 | 主な勤務 |\n|---|---|---|\n| 臨時的任用 | 随時 | 常勤(産休・育休の代替など) |\n"
         "| 非常勤講師 | 随時 | 週数時間から |\n| 会計年度任用職員 | 年度当初 | 学習支援など |\n\n"
         "### 応募までの流れ\n\n1. 登録情報の「勤務できる条件」を最新にする\n2. 事務局から求人のご案内が届く\n"
         "3. 面談のうえ任用\n\n詳しくは[教育委員会のページ](https://www.example.com/recruit)をご覧ください。\n\n"
         "> 免許の更新や失効についてのご相談も受け付けています。"),
        ("夏の交流会のご案内", "元教員・学校職員の交流会を開きます。", "network", now + timedelta(days=7),
         "夏休み期間に、登録者どうしの交流会を開きます。日程と会場は「イベント」でご案内します。"),
        ("研修の振り返り(下書き)", None, "training", None,
         "研修の内容をまとめています。公開前の下書きです。"),
    ]
    for title, summary, category, publish_at, body in articles:
        services.save_article(session, author, None, {
            "title": title, "summary": summary, "body_markdown": body,
            "category_id": _category(session, category), "publish_at": publish_at})
    session.flush()
