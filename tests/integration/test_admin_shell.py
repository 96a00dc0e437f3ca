"""The admin shell with demo data: dashboard chart (PRODUCT: screens that summarise show charts), menus (S-A15)."""

from __future__ import annotations

import re

from app.demo.data import CODE_MASTERS
from app.demo.services import load_demo
from app.extensions import db
from tests.conftest import STRONG_PASSWORD, login
from tests.support.fast_hashing import fast_password_hashing  # noqa: F401  (autouse fixture)


def _with_demo(app, count=30):
    with app.app_context():
        load_demo(db.session, registrant_count=count)


def test_dashboard_charts_active_registrants_per_region(app, client, make_staff):
    _with_demo(app)
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    page = client.get("/admin/").get_data(as_text=True)
    chart = page[page.index('<svg class="bar-chart"'):page.index("</svg>")]
    assert chart.count("<rect") == len(CODE_MASTERS["region"])  # every region has a bar, zero counts included
    assert "佐世保" in chart and "対馬" in chart
    table_counts = [int(n) for n in re.findall(r'<th scope="row">[^<]+</th><td>(\d+)</td>', page)]
    active = int(re.search(r'有効な登録者</span><span class="stat-value">(\d+)<', page).group(1))
    assert sum(table_counts) == active


def test_code_labels_follow_the_language(app, client, make_staff):
    _with_demo(app, count=5)
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    client.get("/lang/en?next=/admin/")
    page = client.get("/admin/").get_data(as_text=True)
    assert "Sasebo" in page and "佐世保" not in page


def test_viewer_sees_no_admin_menu_items_and_no_unlock_button(app, client, make_staff, make_registrant):
    locked = make_registrant(failed_login_count=5)
    with app.app_context():
        from datetime import timedelta

        from app.core.timeutil import utcnow
        from app.registrants.models import Registrant

        db.session.get(Registrant, locked.id).locked_until = utcnow() + timedelta(minutes=30)
        db.session.commit()
    login(client, make_staff("viewer").email, STRONG_PASSWORD)
    page = client.get("/admin/security/locks").get_data(as_text=True)
    assert "山田 花子" in page
    assert "/unlock" not in page
    assert "/admin/staff" not in page and "/admin/audit" not in page
