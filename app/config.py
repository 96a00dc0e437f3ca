"""Every setting of Tsunagu in one typed place.

A setting named ``lockout_threshold`` is read from the environment variable
``TSUNAGU_LOCKOUT_THRESHOLD`` or from the key ``lockout_threshold`` in
``instance/config.toml``; the environment wins. Values are validated when the
application starts, and a bad value stops it with one line naming the setting.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
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
        _require_rate_limit("login_rate_limit", self.login_rate_limit)
        if not self.database_url.startswith(("sqlite:", "mysql+pymysql:", "mariadb+pymysql:")):
            raise ConfigError("TSUNAGU_DATABASE_URL: must be a sqlite:/// or mysql+pymysql:// URL")


SUPPORTED_LOCALES = ("ja", "en")


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
