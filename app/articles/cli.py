"""`flask articles ...`: maintenance of stored article HTML and uploaded images."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app import audit
from app.extensions import db

articles_cli = AppGroup("articles", help="Articles (stored HTML, uploaded images).")


@articles_cli.command("rerender")
def rerender() -> None:
    """Render every article's Markdown to sanitised HTML again (after an upgrade changed the rules)."""
    from app.articles.services import rerender_all

    changed = rerender_all(db.session)
    audit.record(db.session, audit.SYSTEM, "article.rerender", "article:*", {"changed": changed})
    db.session.commit()
    click.echo(f"articles rerender: {changed} article(s) changed")


@articles_cli.command("check-images")
def check_images() -> None:
    """List uploaded images whose file is missing from instance/uploads/images (exit 1 if any)."""
    import sqlalchemy as sa

    from app.articles.models import UploadedImage
    from app.articles.storage import stored_file

    missing = [image.id for image in db.session.scalars(sa.select(UploadedImage).order_by(UploadedImage.id))
               if stored_file(current_app.instance_path, image) is None]
    total = db.session.scalar(sa.select(sa.func.count()).select_from(UploadedImage)) or 0
    click.echo(f"articles check-images: {total} image(s), {len(missing)} missing")
    for image_id in missing:
        click.echo(f"  missing: uploaded_image {image_id}")
    if missing:
        raise SystemExit(1)
