"""The application's part of the personal-data register: every staff account and whether its role may view
personal data. The infrastructure part (DB accounts with their grants, OS accounts that can read backups) is
collected on the guests into a second file of the same shape; the audit report merges them (docs/audit.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.timeutil import to_tokyo, utcnow
from app.staff.models import ROLE_PERMISSIONS, Permission, Role, StaffUser

FORMAT_VERSION = 1


def _iso(moment: datetime | None) -> str | None:
    local = to_tokyo(moment)
    return local.isoformat(timespec="seconds") if local else None


def staff_entry(user: StaffUser, now: datetime) -> dict[str, Any]:
    """One staff account as the register lists it: identity, role and what protects the login, no secret."""
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role,
        "enabled": user.is_enabled,
        "can_view_personal_data": user.can(Permission.VIEW),
        "permissions": sorted(permission.value for permission in ROLE_PERMISSIONS[user.role_enum]),
        "totp_enabled": user.totp_enabled_at is not None,
        "locked": user.is_locked(now),
        "last_login_at": _iso(user.last_login_at),
        "created_at": _iso(user.created_at),
    }


def database_label(session: Session) -> str:
    """Which database the register was read from (driver, host, name; never the password)."""
    return session.get_bind().url.render_as_string(hide_password=True)


def personal_data_register(session: Session) -> dict[str, Any]:
    now = utcnow()
    staff = [staff_entry(user, now) for user in session.scalars(sa.select(StaffUser).order_by(StaffUser.id))]
    return {
        "register": "personal-data",
        "version": FORMAT_VERSION,
        "generated_at": _iso(now),
        "source": "flask register personal-data",
        "database": database_label(session),
        "role_permissions": {role.value: sorted(p.value for p in ROLE_PERMISSIONS[role]) for role in Role},
        "staff": staff,
        "summary": {
            "staff_accounts": len(staff),
            "can_view_personal_data": sum(entry["can_view_personal_data"] for entry in staff),
            "enabled_and_can_view": sum(entry["enabled"] and entry["can_view_personal_data"] for entry in staff),
        },
    }
