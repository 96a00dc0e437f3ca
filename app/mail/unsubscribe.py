"""Unsubscribe links: a signed token carrying only the registrant id (no address in any URL)."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from app import audit
from app.registrants.models import ConsentKind, ConsentRecord, Registrant, RegistrantSource, RegistrantStatus

SALT = "unsubscribe"
PATH = "/mail/unsubscribe/"
# A campaign mail may be read (or a scheduled one sent) long after it was queued: a year and a bit.
MAX_AGE_SECONDS = 400 * 24 * 3600


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def make_token(secret_key: str, registrant_id: int) -> str:
    return str(_serializer(secret_key).dumps(int(registrant_id)))


def unsubscribe_url(settings: Any, registrant_id: int) -> str:
    return settings.public_url(PATH + make_token(settings.secret_key, registrant_id))


def read_token(secret_key: str, token: str) -> tuple[int | None, str]:
    """(registrant id, "") or (None, "expired" / "invalid")."""
    if not token or len(token) > 200:
        return None, "invalid"
    try:
        value = _serializer(secret_key).loads(token, max_age=MAX_AGE_SECONDS)
    except SignatureExpired:
        return None, "expired"
    except BadSignature:
        return None, "invalid"
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None, "invalid"
    return value, ""


def unsubscribe(session: Session, registrant: Registrant | None, ip: str | None, *, one_click: bool) -> bool:
    """Withdraw the registrant's mail consent (a ConsentRecord and an audit row); True if it changed. Commits."""
    if registrant is None or registrant.status == RegistrantStatus.ANONYMISED.value or not registrant.mail_consent:
        return False
    registrant.mail_consent = False
    session.add(ConsentRecord(registrant_id=registrant.id, kind=ConsentKind.MAIL.value, granted=False,
                              notice_version=registrant.privacy_notice_version, source=RegistrantSource.SELF.value))
    audit.record(session, registrant, "registrant.consent_change", f"registrant:{registrant.id}",
                 {"kind": ConsentKind.MAIL.value, "granted": False,
                  "via": "one_click" if one_click else "unsubscribe_link"}, ip)
    session.commit()
    return True
