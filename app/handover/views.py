"""Staff page of the hand-over package (N2): build and download it as one .zip (administrators only)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, send_file
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.admin.forms import ConfirmForm
from app.audit.models import AuditEvent
from app.auth.web import client_ip, requires
from app.core.timeutil import TOKYO
from app.extensions import db
from app.handover import schema
from app.handover.services import export_zip
from app.registrants.models import Registrant
from app.staff.models import Permission

bp = staff_blueprint("handover_admin", __name__, "/admin/handover")


@bp.get("/")
@requires(Permission.ADMIN)
def overview() -> Any:
    registrants = db.session.scalar(sa.select(sa.func.count(Registrant.id))) or 0
    recent = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.in_(["handover.export",
                                                                                    "handover.import"]))
                                .order_by(AuditEvent.seq.desc()).limit(5)).all()
    return render("handover/admin.html", [(_l("引き継ぎデータ"), None)], registrants=registrants,
                  entities=schema.ENTITIES, recent=recent, confirm=ConfirmForm())


@bp.post("/export")
@requires(Permission.ADMIN)
def export() -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    content, _manifest = export_zip(db.session, actor=current_user, client_ip=client_ip())
    stamp = datetime.now(TOKYO).strftime("%Y%m%d-%H%M%S")
    return send_file(io.BytesIO(content), mimetype="application/zip", as_attachment=True,
                     download_name=f"tsunagu-handover-{stamp}.zip", max_age=0)


@bp.get("/schema.json")
@requires(Permission.ADMIN)
def schema_json() -> Any:
    return Response(schema.schema_text(), mimetype="application/schema+json",
                    headers={"Content-Disposition": f'attachment; filename="{schema.SCHEMA_FILE}"'})
