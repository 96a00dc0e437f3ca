"""Names every template may use: labels for stored values, permission checks, date display."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_babel import format_datetime, get_locale, get_translations
from flask_babel import lazy_gettext as _l
from jinja2 import pass_context
from jinja2.runtime import Context

from app.staff.models import Permission

ROLE_LABELS = {"administrator": _l("管理者"), "editor": _l("更新可"), "viewer": _l("閲覧のみ")}
STATUS_LABELS = {"pending": _l("確認待ち"), "active": _l("有効"), "expired": _l("期限切れ"), "withdrawn": _l("退会"),
                 "anonymised": _l("匿名化済")}
SOURCE_LABELS = {"e_application": _l("電子申請"), "import": _l("CSV取込"), "self": _l("本人登録"), "staff": _l("職員登録"),
                 "demo": _l("デモデータ")}
CONSENT_LABELS = {"privacy_notice": _l("個人情報の取扱い"), "mail": _l("メール受信"), "data_use": _l("情報の利用")}


def password_hint() -> str:
    settings = current_app.extensions["tsunagu.settings"]
    if settings.password_require_classes:
        return str(_l("%(n)d文字以上で、英大文字・英小文字・数字をそれぞれ含めてください。"
                      "メールアドレスやよく使われる語は使えません。", n=settings.password_min_length))
    return str(_l("%(n)d文字以上にしてください。", n=settings.password_min_length))


def install_template_gettext(app: Flask) -> None:
    """Templates translate with one locale lookup and a dict per call.

    Flask-Babel's own template callables look up the domain, the locale and the catalogue through the request
    context on every call (about 7 µs; a page makes twenty or more). The catalogues are kept per locale, as
    Flask-Babel keeps them; a forced locale (mails in the site's language) still gets its own catalogue.
    """
    catalogues: dict[Any, Any] = {}

    def catalogue() -> Any:
        locale = get_locale()
        found = catalogues.get(locale)
        if found is None:
            found = catalogues[locale] = get_translations()
        return found

    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  (added by jinja2.ext.i18n)
        gettext=lambda message: catalogue().ugettext(message),
        ngettext=lambda singular, plural, n: catalogue().ungettext(singular, plural, n),
        pgettext=lambda context, message: catalogue().upgettext(context, message),
        npgettext=lambda context, singular, plural, n: catalogue().unpgettext(context, singular, plural, n),
        newstyle=True,
    )


def init_app(app: Flask) -> None:
    install_template_gettext(app)

    @app.template_filter("local_dt")
    def local_dt(value: Any) -> str:
        """A stored (naive UTC) timestamp shown in the configured time zone."""
        return format_datetime(value, "yyyy-MM-dd HH:mm") if value else ""

    @app.template_filter("code_labels")
    @pass_context
    def code_labels(context: Context, codes: Any) -> str:
        """Code-master entries by their label in the user's language, joined as that language lists things.

        The language comes from the page's context when it has one: a chart calls this once per bar."""
        english = (context.get("current_locale") or str(get_locale() or "ja")) == "en"
        labels = [(code.label_en or code.label) if english else code.label for code in codes if code]
        return (", " if english else "、").join(labels)

    @app.template_filter("reject_key")
    def reject_key(mapping: dict[str, Any], key: str) -> dict[str, Any]:
        return {k: v for k, v in mapping.items() if k != key}

    @app.context_processor
    def shell_names() -> dict[str, Any]:
        return {
            "current_locale": str(get_locale() or "ja"),
            "Permission": Permission,
            "role_label": lambda role: ROLE_LABELS.get(role, role),
            "status_label": lambda status: STATUS_LABELS.get(status, status),
            "source_label": lambda source: SOURCE_LABELS.get(source, source),
            "consent_label": lambda kind: CONSENT_LABELS.get(kind, kind),
            "password_hint": password_hint,
            "has_endpoint": lambda endpoint: endpoint in current_app.view_functions,
        }
