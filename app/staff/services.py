"""Creating and managing staff accounts. Every change is audited."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app import audit
from app.auth import services as auth
from app.auth.passwords import hash_password
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


def set_enabled(session: Session, actor: Any, user: StaffUser, enabled: bool, ip: str | None = None) -> None:
    if not enabled and user.id == getattr(actor, "id", None) and actor.account_kind == "staff":
        raise StaffError([str(_l("自分自身のアカウントは無効にできません。"))])
    user.is_enabled = enabled
    if not enabled:
        auth.end_all_sessions(session, user)
    audit.record(session, actor, "staff.enable" if enabled else "staff.disable", f"staff:{user.id}", {}, ip)
    session.commit()


def search_staff(session: Session, query: str = "", role: str = "") -> list[StaffUser]:
    stmt = sa.select(StaffUser).order_by(StaffUser.id)
    if query:
        like = f"%{query.strip().lower()}%"
        stmt = stmt.where(sa.or_(sa.func.lower(StaffUser.email).like(like), StaffUser.display_name.like(like)))
    if role:
        stmt = stmt.where(StaffUser.role == role)
    return list(session.scalars(stmt))
