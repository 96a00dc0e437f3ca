"""The public unsubscribe page a mail's List-Unsubscribe header points to (S-A3).

Not a staff blueprint: anyone holding the link may use it (no login; the signed token is the
permission, and it carries only the registrant id). GET never changes anything (link scanners and
prefetchers open links); the change is a POST: the confirm form, or a mail client's RFC 8058 one-click.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, render_template, request

from app.auth.web import client_ip, settings
from app.extensions import csrf, db
from app.mail.forms import UnsubscribeForm
from app.mail.unsubscribe import read_token, unsubscribe
from app.registrants.models import Registrant

bp = Blueprint("unsubscribe", __name__, url_prefix="/mail/unsubscribe")
log = logging.getLogger("tsunagu.mail")
ONE_CLICK = "One-Click"


def _problem(kind: str) -> Any:
    log.info("unsubscribe link refused: %s", kind)
    return render_template("mail/unsubscribe_problem.html", problem=kind), 400


@bp.get("/<token>")
def confirm(token: str) -> Any:
    registrant_id, problem = read_token(settings().secret_key, token)
    if registrant_id is None:
        return _problem(problem)
    return render_template("mail/unsubscribe.html", form=UnsubscribeForm(), done=False)


# Exempt from the global CSRF check on purpose: RFC 8058 one-click unsubscribe is a POST of
# "List-Unsubscribe=One-Click" made by the mail provider's servers, without cookies or a form token.
# That is safe here because the signed, unguessable token in the URL is itself the authorisation (a
# forged cross-site request cannot know it) and the only effect is stopping mail. The confirm form
# posted from our own page is still CSRF-checked below (UnsubscribeForm validates its token).
@csrf.exempt
@bp.post("/<token>")
def apply(token: str) -> Any:
    registrant_id, problem = read_token(settings().secret_key, token)
    if registrant_id is None:
        return _problem(problem)
    one_click = request.form.get("List-Unsubscribe") == ONE_CLICK
    if not one_click:
        form = UnsubscribeForm()
        if not form.validate_on_submit():
            return render_template("mail/unsubscribe.html", form=form, done=False, expired_form=True), 400
    unsubscribe(db.session, db.session.get(Registrant, registrant_id), client_ip(), one_click=one_click)
    return render_template("mail/unsubscribe.html", form=None, done=True)
