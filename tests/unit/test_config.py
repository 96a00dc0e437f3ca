"""Settings: TSUNAGU_* environment variables and instance/config.toml, validated at start-up
(PRODUCT §4 configuration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError, Settings, load_settings

SECRET = "k" * 48


def write_toml(instance: Path, text: str) -> None:
    (instance / "config.toml").write_text(text, encoding="utf-8")


def test_defaults_need_only_a_secret(tmp_path):
    settings = load_settings(tmp_path, environ={"TSUNAGU_SECRET_KEY": SECRET})
    assert isinstance(settings, Settings)
    assert settings.secret_key == SECRET
    assert settings.default_locale == "ja" and settings.timezone == "Asia/Tokyo"
    assert (settings.lockout_threshold, settings.password_min_length) == (5, 12)
    assert settings.database_url == f"sqlite:///{(tmp_path / 'tsunagu.sqlite3').resolve()}"
    assert settings.auth_log == str((tmp_path / "auth.log").resolve())


def test_settings_come_from_the_environment(tmp_path):
    settings = load_settings(tmp_path, environ={
        "TSUNAGU_SECRET_KEY": SECRET, "TSUNAGU_LOCKOUT_THRESHOLD": " 7 ", "TSUNAGU_COOKIE_SECURE": "yes",
        "TSUNAGU_LOGIN_RATE_LIMIT": "10 per minute", "TSUNAGU_DEFAULT_LOCALE": "en",
        "TSUNAGU_DATABASE_URL": "mysql+pymysql://tsunagu@localhost/tsunagu", "UNRELATED": "ignored"})
    assert settings.lockout_threshold == 7
    assert settings.cookie_secure is True
    assert settings.login_rate_limit == "10 per minute"
    assert settings.default_locale == "en"
    assert settings.database_url == "mysql+pymysql://tsunagu@localhost/tsunagu"


@pytest.mark.parametrize("table", ["", "[tsunagu]\n"])
def test_settings_come_from_config_toml(tmp_path, table):
    write_toml(tmp_path, f'{table}secret_key = "{SECRET}"\nlockout_threshold = 3\ncookie_secure = true\n'
                         'login_rate_limit = "5 per minute"\n')
    settings = load_settings(tmp_path, environ={})
    assert settings.secret_key == SECRET
    assert (settings.lockout_threshold, settings.cookie_secure, settings.login_rate_limit) == (3, True,
                                                                                              "5 per minute")


def test_the_environment_wins_over_config_toml_and_overrides_win_over_both(tmp_path):
    write_toml(tmp_path, f'secret_key = "{SECRET}"\nlockout_threshold = 3\nlockout_minutes = 45\n')
    settings = load_settings(tmp_path, environ={"TSUNAGU_LOCKOUT_THRESHOLD": "9"})
    assert settings.lockout_threshold == 9  # environment
    assert settings.lockout_minutes == 45  # config.toml, not overridden
    overridden = load_settings(tmp_path, environ={"TSUNAGU_LOCKOUT_THRESHOLD": "9"},
                               overrides={"lockout_threshold": 4})
    assert overridden.lockout_threshold == 4


@pytest.mark.parametrize("environ, named", [
    ({"TSUNAGU_LOCKOUT_THRESHOLD": "abc"}, "TSUNAGU_LOCKOUT_THRESHOLD"),
    ({"TSUNAGU_LOCKOUT_THRESHOLD": "0"}, "TSUNAGU_LOCKOUT_THRESHOLD"),
    ({"TSUNAGU_SESSION_IDLE_MINUTES": "1.5"}, "TSUNAGU_SESSION_IDLE_MINUTES"),
    ({"TSUNAGU_COOKIE_SECURE": "maybe"}, "TSUNAGU_COOKIE_SECURE"),
    ({"TSUNAGU_TRUSTED_PROXIES": "-1"}, "TSUNAGU_TRUSTED_PROXIES"),
    ({"TSUNAGU_DASHBOARD_FIGURES_SECONDS": "-5"}, "TSUNAGU_DASHBOARD_FIGURES_SECONDS"),
    ({"TSUNAGU_MAX_REQUEST_BYTES": "1000"}, "TSUNAGU_MAX_REQUEST_BYTES"),
    ({"TSUNAGU_DEFAULT_LOCALE": "fr"}, "TSUNAGU_DEFAULT_LOCALE"),
    ({"TSUNAGU_DATABASE_URL": "postgresql://db/tsunagu"}, "TSUNAGU_DATABASE_URL"),
    ({"TSUNAGU_LOGIN_RATE_LIMIT": "3 per fortnight"}, "TSUNAGU_LOGIN_RATE_LIMIT"),
    ({"TSUNAGU_LOGIN_RATE_LIMIT": ""}, "TSUNAGU_LOGIN_RATE_LIMIT"),
    ({"TSUNAGU_SECRET_KEY": "too-short"}, "TSUNAGU_SECRET_KEY"),
])
def test_a_bad_environment_value_names_the_setting(tmp_path, environ, named):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"TSUNAGU_SECRET_KEY": SECRET, **environ})
    assert named in str(caught.value)


def test_a_short_secret_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={"TSUNAGU_SECRET_KEY": "s3cr3t-but-short"})
    message = str(caught.value)
    assert "TSUNAGU_SECRET_KEY" in message and "32" in message
    assert "s3cr3t-but-short" not in message


def test_a_missing_secret_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="TSUNAGU_SECRET_KEY"):
        load_settings(tmp_path, environ={})


def test_an_unknown_key_in_config_toml_is_named(tmp_path):
    write_toml(tmp_path, f'secret_key = "{SECRET}"\nlockout_treshold = 3\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert "lockout_treshold" in str(caught.value) and "config.toml" in str(caught.value)


def test_a_bad_value_in_config_toml_names_the_setting(tmp_path):
    write_toml(tmp_path, f'secret_key = "{SECRET}"\nlockout_threshold = "many"\n')
    with pytest.raises(ConfigError, match="LOCKOUT_THRESHOLD"):
        load_settings(tmp_path, environ={})


@pytest.mark.parametrize("text", ['secret_key = "unterminated\n', "lockout_threshold = = 3\n", "[tsunagu\n"])
def test_invalid_toml_is_refused_naming_the_file(tmp_path, text):
    write_toml(tmp_path, text)
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings(tmp_path, environ={"TSUNAGU_SECRET_KEY": SECRET})


def test_create_app_refuses_to_start_without_a_secret(tmp_path, monkeypatch):
    """No fallback secret: without TSUNAGU_SECRET_KEY (and no config.toml) the app does not start."""
    monkeypatch.delenv("TSUNAGU_SECRET_KEY", raising=False)
    monkeypatch.setenv("TSUNAGU_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="TSUNAGU_SECRET_KEY"):
        create_app()
    with pytest.raises(ConfigError, match="TSUNAGU_SECRET_KEY"):
        create_app({"secret_key": ""})


def test_create_app_uses_the_configured_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("TSUNAGU_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("TSUNAGU_SECRET_KEY", SECRET)
    app = create_app()
    assert app.config["SECRET_KEY"] == SECRET
    assert app.instance_path == str(tmp_path)
    assert app.config["MAX_CONTENT_LENGTH"] == app.extensions["tsunagu.settings"].max_request_bytes
