"""Articles (記事) written in Markdown and the images uploaded for them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.codes.models import Code
from app.core.timeutil import utcnow
from app.extensions import db


class Article(db.Model):
    __tablename__ = "article"
    __table_args__ = (
        sa.Index("ix_article_publish_at", "publish_at"),
        {"comment": "記事(Markdownで書き、安全なHTMLに変換して登録者ページに掲載)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    title: Mapped[str] = mapped_column(sa.String(200), comment="見出し")
    summary: Mapped[str | None] = mapped_column(sa.String(300), comment="一覧に出す要約")
    body_markdown: Mapped[str] = mapped_column(sa.Text, comment="本文(Markdown、20000文字以内)")
    body_html: Mapped[str] = mapped_column(sa.Text, comment="本文を変換・無害化したHTML(表示用)")
    category_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("code.id", ondelete="RESTRICT"), index=True, comment="分類(コードマスタ article_category)")
    publish_at: Mapped[datetime | None] = mapped_column(
        comment="公開日時(UTC)。NULLは下書き、未来の日時は予約公開")
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="作成した職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="作成日時(UTC)")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, comment="更新日時(UTC)")

    category: Mapped[Code | None] = relationship(foreign_keys=[category_id])


class UploadedImage(db.Model):
    __tablename__ = "uploaded_image"
    __table_args__ = {"comment": "記事用にアップロードされた画像(ファイルはWeb公開領域外に保存し、IDで配信)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="内部ID")
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True, comment="画像ファイルのSHA-256(保存ファイル名)")
    content_type: Mapped[str] = mapped_column(sa.String(32), comment="内容から判定したMIMEタイプ(image/png など)")
    byte_size: Mapped[int] = mapped_column(comment="ファイルサイズ(バイト)")
    width: Mapped[int] = mapped_column(comment="幅(ピクセル)")
    height: Mapped[int] = mapped_column(comment="高さ(ピクセル)")
    filename: Mapped[str] = mapped_column(sa.String(200), comment="元のファイル名(パスを含まない表示用)")
    uploaded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff_user.id", ondelete="SET NULL"), comment="アップロードした職員のID")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, comment="アップロード日時(UTC)")
