"""Every setting of Tsunagu in one typed place.

A setting named ``lockout_threshold`` is read from the environment variable
``TSUNAGU_LOCKOUT_THRESHOLD`` or from the key ``lockout_threshold`` in
``instance/config.toml``; the environment wins. Values are validated when the
application starts, and a bad value stops it with one line naming the setting.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, get_type_hints

ENV_PREFIX = "TSUNAGU_"


class ConfigError(Exception):
    """A setting is missing or has a value Tsunagu cannot use."""


@dataclass(frozen=True)
class Settings:
    secret_key: str = field(default="", metadata={"secret": True})
    database_url: str = ""
    default_locale: str = "ja"
    timezone: str = "Asia/Tokyo"
    password_min_length: int = 12
    password_require_classes: bool = True
    lockout_threshold: int = 5
    lockout_window_minutes: int = 15
    lockout_minutes: int = 30
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_rate_limit: str = "20 per minute"
    rate_limit_storage_uri: str = "memory://"
    auth_log: str = ""
    max_request_bytes: int = 2 * 1024 * 1024
    max_form_bytes: int = 512 * 1024
    trusted_proxies: int = 0
    cookie_secure: bool = False
    audit_page_size: int = 50
    dashboard_figures_seconds: int = 30  # a web process reuses the dashboard's counts this long (0: count every view)
    # links in mails and QR codes point here
    public_base_url: str = "http://127.0.0.1:5000"
    # mail (the outbox worker sends through this relay)
    mail_from: str = "tsunagu@example.com"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = field(default="", metadata={"secret": True})
    mail_max_attempts: int = 5
    mail_rate_per_hour: int = 1000  # sliding-window cap the relay allows (prefectural relays limit mails per hour)
    mail_catch_dir: str = ""  # demo only: `flask mail catcher` stores what it receives here as .eml files
    # e-application system (S1)
    sync_api_url: str = ""
    sync_api_token: str = field(default="", metadata={"secret": True})
    sync_field_map: str = ""
    sync_times: str = "06:00,18:00"
    sync_page_size: int = 500
    sync_timeout_seconds: int = 10
    sync_max_retries: int = 4
    sync_lock_minutes: int = 30
    e_application_url: str = ""
    # accounts
    invitation_valid_hours: int = 168
    reset_valid_minutes: int = 60
    self_registration: str = "off"
    privacy_notice_version: str = "2026-04"
    # job postings and matching (S-A12/A13)
    portal_show_postings: bool = True  # open postings appear on the registrant portal
    match_recent_contact_days: int = 30  # a correspondence within this many days lowers the score
    totp_required_roles: str = ""  # staff roles that must use two-factor login (comma list, e.g. administrator)
    # fiscal-year lifecycle (S5)
    renewal_reminder_dates: str = "02-01,03-01"
    retention_days: int = 365
    # alumni network (N3–N15)
    analytics_record_page_views: bool = True  # one small insert per portal page view (first-party only)
    image_max_bytes: int = 1024 * 1024  # largest image an article may upload
    inquiry_notify_to: str = ""  # who hears of a new inquiry (comma list); empty = every active editor and administrator
    event_reminder_hour: int = 9  # the reminder mail goes out the day before an event, from this hour (Asia/Tokyo)

    def validate(self) -> None:
        if len(self.secret_key) < 32:
            raise ConfigError(
                "TSUNAGU_SECRET_KEY: required, at least 32 characters "
                "(generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.default_locale not in SUPPORTED_LOCALES:
            raise ConfigError(f"TSUNAGU_DEFAULT_LOCALE: must be one of {', '.join(SUPPORTED_LOCALES)}")
        _require_at_least("password_min_length", self.password_min_length, 8)
        _require_at_least("lockout_threshold", self.lockout_threshold, 1)
        _require_at_least("lockout_window_minutes", self.lockout_window_minutes, 1)
        _require_at_least("lockout_minutes", self.lockout_minutes, 1)
        _require_at_least("session_idle_minutes", self.session_idle_minutes, 1)
        _require_at_least("session_absolute_hours", self.session_absolute_hours, 1)
        _require_at_least("max_request_bytes", self.max_request_bytes, 64 * 1024)
        _require_at_least("max_form_bytes", self.max_form_bytes, 16 * 1024)
        _require_at_least("trusted_proxies", self.trusted_proxies, 0)
        _require_at_least("audit_page_size", self.audit_page_size, 1)
        _require_at_least("dashboard_figures_seconds", self.dashboard_figures_seconds, 0)
        _require_rate_limit("login_rate_limit", self.login_rate_limit)
        _require_at_least("smtp_port", self.smtp_port, 1)
        _require_at_least("mail_max_attempts", self.mail_max_attempts, 1)
        _require_at_least("mail_rate_per_hour", self.mail_rate_per_hour, 1)
        _require_at_least("match_recent_contact_days", self.match_recent_contact_days, 0)
        _require_at_least("sync_page_size", self.sync_page_size, 1)
        _require_at_least("sync_timeout_seconds", self.sync_timeout_seconds, 1)
        _require_at_least("sync_max_retries", self.sync_max_retries, 0)
        _require_at_least("sync_lock_minutes", self.sync_lock_minutes, 1)
        _require_at_least("invitation_valid_hours", self.invitation_valid_hours, 1)
        _require_at_least("reset_valid_minutes", self.reset_valid_minutes, 5)
        _require_at_least("retention_days", self.retention_days, 0)
        if self.self_registration not in {"off", "open", "approval"}:
            raise ConfigError("TSUNAGU_SELF_REGISTRATION: must be off, open or approval")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise ConfigError("TSUNAGU_PUBLIC_BASE_URL: must start with http:// or https://")
        self.sync_time_list  # noqa: B018  (parses, raising ConfigError on a bad value)
        self.renewal_reminder_days  # noqa: B018
        self.totp_required_role_set  # noqa: B018
        if not self.database_url.startswith(("sqlite:", "mysql+pymysql:", "mariadb+pymysql:")):
            raise ConfigError("TSUNAGU_DATABASE_URL: must be a sqlite:/// or mysql+pymysql:// URL")

    @property
    def sync_time_list(self) -> list[tuple[int, int]]:
        """`sync_times` as (hour, minute) pairs in Asia/Tokyo."""
        return [_parse_clock("sync_times", part) for part in _split_list(self.sync_times)]

    @property
    def renewal_reminder_days(self) -> list[tuple[int, int]]:
        """`renewal_reminder_dates` as (month, day) pairs."""
        return [_parse_month_day("renewal_reminder_dates", part) for part in _split_list(self.renewal_reminder_dates)]

    @property
    def totp_required_role_set(self) -> frozenset[str]:
        """`totp_required_roles` as a set of role names (administrator, editor, viewer)."""
        roles = frozenset(_split_list(self.totp_required_roles))
        unknown = roles - {"administrator", "editor", "viewer"}
        if unknown:
            raise ConfigError(f"{ENV_PREFIX}TOTP_REQUIRED_ROLES: unknown role {sorted(unknown)[0]!r} "
                              "(use administrator, editor, viewer)")
        return roles

    def public_url(self, path: str) -> str:
        return self.public_base_url.rstrip("/") + path


SUPPORTED_LOCALES = ("ja", "en")


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse_clock(name: str, text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected times like 06:00,18:00 (got {text!r})")
    return int(match.group(1)), int(match.group(2))


def _parse_month_day(name: str, text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", text)
    try:
        if match:
            day = date(2024, int(match.group(1)), int(match.group(2)))  # a leap year accepts 02-29
            return day.month, day.day
    except ValueError:
        pass
    raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected month-day pairs like 02-01,03-01 (got {text!r})")


def _require_at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: must be at least {minimum} (got {value})")


def _require_rate_limit(name: str, value: str) -> None:
    """Flask-Limiter skips a limit it cannot parse, which would silently turn the limit off."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: not a rate limit such as '20 per minute' "
                          f"(got {value!r})") from None


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected true or false (got {raw!r})")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected a whole number (got {raw!r})")
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected a whole number (got {raw!r})") from None
    if not isinstance(raw, str | int | float):
        raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected text")
    return str(raw)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return data.get("tsunagu", data)


def load_settings(
    instance_path: str | os.PathLike[str],
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read settings from config.toml, then the environment, then explicit overrides."""
    environ = dict(os.environ if environ is None else environ)
    instance = Path(instance_path)
    toml_values = _read_toml(instance / "config.toml")
    hints = get_type_hints(Settings)
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(toml_values) - known)
    if unknown:
        raise ConfigError(f"{instance / 'config.toml'}: unknown setting {unknown[0]!r}")
    values: dict[str, Any] = {}
    for name in known:
        raw: Any = toml_values.get(name)
        raw = environ.get(ENV_PREFIX + name.upper(), raw)
        if overrides and name in overrides:
            raw = overrides[name]
        if raw is not None:
            values[name] = _coerce(name, raw, hints[name])
    if not values.get("database_url"):
        values["database_url"] = f"sqlite:///{(instance / 'tsunagu.sqlite3').resolve()}"
    if not values.get("auth_log"):
        values["auth_log"] = str((instance / "auth.log").resolve())
    settings = Settings(**values)
    settings.validate()
    return settings
