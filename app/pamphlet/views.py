"""Staff edit and print the registration pamphlet."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.admin import render, staff_blueprint
from app.auth.web import client_ip, requires, settings
from app.core.timeutil import to_tokyo, utcnow
from app.extensions import db
from app.outputs.models import OutputKind
from app.outputs.services import HashingWriter, record_output, sha256_of
from app.pamphlet import forms, pdf, services
from app.staff.models import Permission

bp = staff_blueprint("pamphlet_admin", __name__, "/admin/pamphlet")
log = logging.getLogger("tsunagu.pamphlet")
CRUMB = _l("登録案内チラシ")
OUTPUT_TITLE = _l("登録案内チラシ")
PDF_TITLE = _l("登録案内チラシ(PDF)")


def _sheet_context(pamphlet: services.Pamphlet) -> dict[str, Any]:
    url = services.registration_url(settings())
    return {"pamphlet": pamphlet, "registration_url": url,
            "qr": services.qr_svg(url, _("登録ページのQRコード(%(url)s)", url=url))}


@bp.get("/")
@requires(Permission.VIEW)
def index() -> Any:
    pamphlet = services.current(db.session)
    return render("pamphlet/index.html", [(CRUMB, None)], history=services.history(db.session),
                  pdf_available=pdf.available(), **_sheet_context(pamphlet))


@bp.route("/edit", methods=["GET", "POST"])
@requires(Permission.EDIT)
def edit() -> Any:
    form = forms.PamphletForm()
    if request.method == "GET":
        pamphlet = services.current(db.session)
        form.title.data, form.lead.data = pamphlet.title, pamphlet.lead
        form.benefits.data, form.closing.data = pamphlet.benefits_text, pamphlet.closing
    preview = None
    if form.validate_on_submit():
        if form.preview.data:
            preview = services.Pamphlet(title=form.title.data, lead=form.lead.data.replace("\r\n", "\n"),
                                        benefits=services.split_benefits(form.benefits.data),
                                        closing=(form.closing.data or "").replace("\r\n", "\n"))
        else:
            services.save(db.session, current_user, title=form.title.data, lead=form.lead.data,
                          benefits=form.benefits.data, closing=form.closing.data or "", ip=client_ip())
            db.session.commit()
            flash(_("チラシの文面を保存しました。"), "info")
            return redirect(url_for(".index"))
    elif form.errors:
        log.info("pamphlet text refused: %s", sorted(form.errors))
    context = _sheet_context(preview) if preview else {}
    return render("pamphlet/edit.html", [(CRUMB, url_for(".index")), (_l("文面の編集"), None)], form=form,
                  preview=preview, **context)


@bp.get("/print")
@requires(Permission.VIEW)
def print_view() -> Any:
    """The A4 sheet to print; opening it is recorded in the output history like the other print views."""
    pamphlet = services.current(db.session)
    context = _sheet_context(pamphlet)
    html = render_template("pamphlet/print.html", **context)
    record_output(db.session, current_user, kind=OutputKind.REPORT, title=str(OUTPUT_TITLE),
                  filters={"pamphlet_text": pamphlet.text_id or "default", "url": context["registration_url"]},
                  row_count=1, filename=None, sha256=sha256_of(html.encode()), ip=client_ip())
    db.session.commit()
    return html


@bp.get("/pamphlet.pdf")
@requires(Permission.VIEW)
def pdf_download() -> Any:
    if not pdf.available():
        flash(_("この機器にはPDFの作成に必要な日本語フォントがありません。印刷用の表示から印刷してください。"), "error")
        return redirect(url_for(".index"))
    pamphlet = services.current(db.session)
    url = services.registration_url(settings())
    writer = HashingWriter()
    pdf.write_pdf(pamphlet, url, writer)
    filename = f"tsunagu-pamphlet-{to_tokyo(utcnow()):%Y%m%d}.pdf"
    record_output(db.session, current_user, kind=OutputKind.REPORT, title=str(PDF_TITLE),
                  filters={"pamphlet_text": pamphlet.text_id or "default", "url": url}, row_count=1,
                  filename=filename, sha256=writer.sha256, ip=client_ip())
    db.session.commit()
    response: Response = send_file(writer.rewound(), mimetype="application/pdf", as_attachment=True,
                                   download_name=filename)
    return response
