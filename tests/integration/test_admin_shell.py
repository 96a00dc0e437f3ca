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
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert re.search(r'ロック中のアカウント</a></span><span class="stat-value">1<', dashboard)


def _menu(page: str) -> str:
    return page[page.index('<ul class="nav-groups">'):page.index('<div class="whoami">')]


def test_the_reused_menu_follows_the_role_the_language_and_the_page(app, make_staff):
    """The menu is rendered once per role, language and page and reused: an administrator's menu must never
    reach a viewer, and the current page's mark moves with the page."""
    admin, viewer = app.test_client(), app.test_client()
    login(admin, make_staff("administrator").email, STRONG_PASSWORD)
    login(viewer, make_staff("viewer").email, STRONG_PASSWORD)
    for _ in range(2):  # the second round is served from the kept copies
        admin_menu = _menu(admin.get("/admin/").get_data(as_text=True))
        viewer_menu = _menu(viewer.get("/admin/").get_data(as_text=True))
        assert 'href="/admin/staff' in admin_menu and 'href="/admin/audit' in admin_menu
        assert "/admin/staff" not in viewer_menu and "/admin/audit" not in viewer_menu
        assert 'href="/admin/" aria-current="page"' in viewer_menu
        on_list = _menu(viewer.get("/admin/registrants").get_data(as_text=True))
        assert 'href="/admin/registrants" aria-current="page"' in on_list
        assert 'href="/admin/" aria-current' not in on_list
    viewer.get("/lang/en?next=/admin/")
    assert "ダッシュボード" in viewer_menu and "ダッシュボード" not in _menu(viewer.get("/admin/").get_data(as_text=True))


def test_dashboard_figures_count_each_status_every_region_in_order_and_live_locks(app, make_staff, make_registrant):
    from datetime import timedelta

    from app.admin import figures
    from app.codes.models import Code
    from app.core.timeutil import utcnow
    from app.staff.models import StaffUser

    now = utcnow()
    with app.app_context():
        regions = [Code(kind="region", code=code, label=label, label_en=label_en, sort_order=order)
                   for code, label, label_en, order in (("b", "南", "South", 2), ("a", "北", None, 1), ("c", "西", "West", 3))]
        db.session.add_all(regions)
        db.session.commit()
        south, north, west = (region.id for region in regions)
    for status, region, locked_until in (("active", south, None), ("active", south, now + timedelta(minutes=5)),
                                         ("active", north, now - timedelta(minutes=5)), ("expired", west, None),
                                         ("withdrawn", None, None), ("active", None, None)):
        make_registrant(status=status, region_id=region, locked_until=locked_until)
    staff = make_staff("viewer")
    with app.app_context():
        db.session.get(StaffUser, staff.id).locked_until = now + timedelta(minutes=1)
        db.session.commit()
        shown = figures.dashboard(db.session, now)
    assert shown.by_status == {"pending": 0, "active": 4, "expired": 1, "withdrawn": 1, "anonymised": 0}
    assert [(region.label, region.label_en, count) for region, count in shown.by_region] == [
        ("北", None, 1), ("南", "South", 2), ("西", "West", 0)]  # code-master order; expired registrants not counted
    assert [region.id for region, _ in shown.by_region] == [north, south, west]
    assert shown.locked == 2  # one registrant and one staff user; the lock that has run out is not counted


def test_the_dashboard_reuses_its_counts_for_a_while_and_says_when_they_were_counted(app, client, make_staff,
                                                                                    make_registrant):
    """Counting grows with the register, so a process reuses its figures for dashboard_figures_seconds; a
    registrant added meanwhile shows once they are that old, and the page always names the counting time."""
    import dataclasses
    from datetime import timedelta

    make_registrant(status="active")
    login(client, make_staff("viewer").email, STRONG_PASSWORD)

    def active() -> int:
        page = client.get("/admin/").get_data(as_text=True)
        assert re.search(r'<p class="hint">\d{4}-\d\d-\d\d \d\d:\d\d 時点の集計</p>', page)
        return int(re.search(r'有効な登録者</span><span class="stat-value">(\d+)<', page).group(1))

    assert active() == 1
    make_registrant(status="active", email="second@example.jp")
    assert active() == 1  # the figures counted a moment ago
    recent = app.extensions["tsunagu.dashboard_figures"]
    assert recent.max_age == timedelta(seconds=30)
    recent.last = dataclasses.replace(recent.last, counted_at=recent.last.counted_at - timedelta(seconds=30))
    assert active() == 2  # thirty seconds old: counted again
    recent.max_age = timedelta(0)
    make_registrant(status="active", email="third@example.jp")
    assert active() == 3  # dashboard_figures_seconds = 0 counts on every view
