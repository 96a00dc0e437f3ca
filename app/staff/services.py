"""Creating and managing staff accounts. Every change is audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.auth import services as auth
from app.auth import totp
from app.auth.passwords import hash_password
from app.core.timeutil import utcnow
from app.staff.models import Role, StaffUser


class StaffError(Exception):
    """A staff change was refused; `messages` say why, in the user's language."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


def create_staff(session: Session, settings: Any, actor: Any, *, email: str, display_name: str, role: str,
                 password: str, ip: str | None = None) -> StaffUser:
    email = email.strip().lower()
    problems: list[str] = []
    if role not in {r.value for r in Role}:
        problems.append(str(_l("権限の値が正しくありません。")))
    if auth.find_account(session, "staff", email) is not None:
        problems.append(str(_l("このメールアドレスの管理者ユーザーはすでに登録されています。")))
    problems += auth.check_new_password(settings, password, email)
    if problems:
        raise StaffError(problems)
    user = StaffUser(email=email, display_name=display_name.strip(), role=role,
                     password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, actor, "staff.create", f"staff:{user.id}", {"role": role}, ip)
    session.commit()
    return user


def _enabled_administrators(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(StaffUser).where(
        StaffUser.role == Role.ADMINISTRATOR.value, StaffUser.is_enabled.is_(True))) or 0)


def _is_self(actor: Any, user: StaffUser) -> bool:
    return getattr(actor, "account_kind", None) == "staff" and getattr(actor, "id", None) == user.id


def _keeps_an_administrator(session: Session, user: StaffUser) -> bool:
    """False if `user` is the last enabled administrator (so they may not be demoted or disabled)."""
    if user.role != Role.ADMINISTRATOR.value or not user.is_enabled:
        return True
    return _enabled_administrators(session) > 1


def set_enabled(session: Session, actor: Any, user: StaffUser, enabled: bool, ip: str | None = None) -> None:
    if not enabled and _is_self(actor, user):
        raise StaffError([str(_l("自分自身のアカウントは無効にできません。"))])
    if not enabled and not _keeps_an_administrator(session, user):
        raise StaffError([str(_l("有効な管理者が一人もいなくなるため、無効にできません。"))])
    user.is_enabled = enabled
    if not enabled:
        auth.end_all_sessions(session, user)
    audit.record(session, actor, "staff.enable" if enabled else "staff.disable", f"staff:{user.id}", {}, ip)
    session.commit()


def update_staff(session: Session, actor: Any, user: StaffUser, *, display_name: str, role: str,
                 ip: str | None = None) -> list[str]:
    """Change display name and role; returns what changed. Nobody demotes themself or the last administrator."""
    if role not in {r.value for r in Role}:
        raise StaffError([str(_l("権限の値が正しくありません。"))])
    demoted = user.role == Role.ADMINISTRATOR.value and role != Role.ADMINISTRATOR.value
    if demoted and _is_self(actor, user):
        raise StaffError([str(_l("自分自身の権限は下げられません。"))])
    if demoted and not _keeps_an_administrator(session, user):
        raise StaffError([str(_l("有効な管理者が一人もいなくなるため、権限を変更できません。"))])
    changed = []
    if display_name.strip() != user.display_name:
        user.display_name = display_name.strip()
        changed.append("display_name")
    detail: dict[str, Any] = {}
    if role != user.role:
        detail = {"role_from": user.role, "role_to": role}
        user.role = role
        changed.append("role")
    if changed:
        audit.record(session, actor, "staff.update", f"staff:{user.id}", {"changed": changed, **detail}, ip)
        session.commit()
    return changed


def force_password_change(session: Session, actor: Any, user: StaffUser, ip: str | None = None) -> None:
    """The user must choose a new password at their next login; every session of theirs ends now."""
    user.must_change_password = True
    auth.end_all_sessions(session, user)
    audit.record(session, actor, "staff.force_password_change", f"staff:{user.id}", {}, ip)
    session.commit()


def reset_totp(session: Session, actor: Any, user: StaffUser, ip: str | None = None) -> None:
    """Forget the user's two-factor key (a lost phone); they enrol again if their role requires it."""
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    audit.record(session, actor, "staff.totp_reset", f"staff:{user.id}", {}, ip)
    session.commit()


def search_staff(session: Session, query: str = "", role: str = "", state: str = "") -> list[StaffUser]:
    stmt = sa.select(StaffUser).order_by(StaffUser.id)
    if query:
        like = f"%{_escape_like(query.strip().lower())}%"
        stmt = stmt.where(sa.or_(sa.func.lower(StaffUser.email).like(like, escape="\\"),
                                 StaffUser.display_name.like(like, escape="\\")))
    if role:
        stmt = stmt.where(StaffUser.role == role)
    if state in {"enabled", "disabled"}:
        stmt = stmt.where(StaffUser.is_enabled.is_(state == "enabled"))
    return list(session.scalars(stmt))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- own two-factor login (TOTP) -----------------------------------------------------------------
# An enrolment keeps its new key in totp_secret with totp_enabled_at still empty: the login asks for
# a code only once the user has shown, with a code, that their app has the key.

def totp_required(settings: Any, user: StaffUser) -> bool:
    return user.role in settings.totp_required_role_set


def begin_totp_enrolment(session: Session, user: StaffUser) -> str:
    """The key to show for enrolment (made once, kept while the page is reloaded)."""
    if user.totp_enabled_at is None and not user.totp_secret:
        user.totp_secret = totp.new_secret()
        session.commit()
    return str(user.totp_secret)


def confirm_totp_enrolment(session: Session, user: StaffUser, code: str, ip: str | None = None) -> bool:
    """Turn two-factor login on if `code` is right for the pending key. False (nothing changes) otherwise."""
    if user.totp_enabled_at is not None or not user.totp_secret or not totp.consume(user, code):
        return False
    user.totp_enabled_at = utcnow()
    audit.record(session, user, "auth.totp_enable", f"staff:{user.id}", {}, ip)
    session.commit()
    return True


def disable_totp(session: Session, settings: Any, user: StaffUser, code: str, ip: str | None = None) -> None:
    """Turn two-factor login off, proven with a current code; refused when the user's role requires it."""
    if totp_required(settings, user):
        raise StaffError([str(_l("この権限では二要素認証が必須のため、解除できません。"))])
    if user.totp_enabled_at is None or not totp.consume(user, code):
        raise StaffError([str(_l("確認コードが正しくありません。"))])
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    audit.record(session, user, "auth.totp_disable", f"staff:{user.id}", {}, ip)
    session.commit()
