"""The application form (採用志願書): template checks and history, and filling a registrant into the template.

A template is an .xlsx whose fillable cells are located by workbook-level defined names (app.documents.fields).
Uploaded templates are checked before they are stored — a real xlsx zip, no macros, no links to other
workbooks or data connections, every required name pointing at a cell — so a form produced from them
passes the sanitising gateways of government networks. Filling loads the template with openpyxl (which
drops any VBA) and writes text values only: a value starting with "=" stays text, never a formula.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from app import audit
from app.core.jpdate import format_wareki, format_western
from app.core.timeutil import to_tokyo, tokyo_today, utcnow
from app.documents import fields
from app.documents.default_template import DATA_FILE
from app.documents.models import TEMPLATE_MAX_BYTES, FormTemplate
from app.outputs.models import OutputKind
from app.outputs.services import record_output, sha256_of
from app.registrants.models import Registrant

log = logging.getLogger("tsunagu.documents")

MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # a 5 MB zip that unpacks beyond this is a zip bomb, not a form
MAX_CELL_CHARS = 32_000  # Excel keeps at most 32,767 characters in a cell
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MACRO_MARKERS = ("macroenabled", "vbaproject", "vnd.ms-office.activex")
_ILLEGAL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class TemplateError(ValueError):
    """Why an uploaded template was refused (Japanese, shown to the administrator as is)."""


@dataclass(frozen=True)
class TemplateCheck:
    names: dict[str, tuple[str, str]]  # defined name -> (sheet title, top-left cell), for the names Tsunagu fills
    warnings: list[str]  # accepted, but the administrator should know (e.g. pictures that will not be kept)


# --- checking an uploaded template ------------------------------------------------------------------------

def check_template(content: bytes) -> TemplateCheck:
    """Refuse anything that is not a macro-free, self-contained xlsx with the required defined names."""
    if len(content) > TEMPLATE_MAX_BYTES:
        raise TemplateError(_("ファイルが大きすぎます(上限 %(mb)d MB)。", mb=TEMPLATE_MAX_BYTES // (1024 * 1024)))
    if not content:
        raise TemplateError(_("ファイルが空です。"))
    warnings = _check_package(content)
    try:
        wb = _load(content)
    except Exception:  # openpyxl raises many kinds of errors on damaged files
        log.warning("template refused: openpyxl could not open it", exc_info=True)
        raise TemplateError(_("Excelファイルとして開けません。Excelで開いて「Excel ブック (*.xlsx)」として保存し直してください。")) \
            from None
    return TemplateCheck(names=_check_names(wb), warnings=warnings)


def _check_package(content: bytes) -> list[str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError):
        raise TemplateError(_("Excelファイル(.xlsx)ではありません。ZIP形式として読めません。")) from None
    with archive:
        entries = archive.infolist()
        names = {item.filename.lower() for item in entries}
        if "[content_types].xml" not in names or "xl/workbook.xml" not in names:
            raise TemplateError(_("Excelファイル(.xlsx)ではありません。ブックの構成が見つかりません。"))
        if sum(item.file_size for item in entries) > MAX_UNPACKED_BYTES:
            raise TemplateError(_("展開後のサイズが大きすぎます(上限 %(mb)d MB)。", mb=MAX_UNPACKED_BYTES // (1024 * 1024)))
        try:
            content_types = archive.read("[Content_Types].xml").decode("utf-8", "replace").lower()
        except (zipfile.BadZipFile, KeyError, RuntimeError, OSError):
            raise TemplateError(_("Excelファイル(.xlsx)ではありません。ZIPの中身が壊れています。")) from None
    if any(name.endswith("vbaproject.bin") for name in names) or any(m in content_types for m in _MACRO_MARKERS) \
            or any(name.startswith("xl/activex/") for name in names):
        raise TemplateError(_("マクロ(VBA)を含むファイルは使えません。マクロを削除し「Excel ブック (*.xlsx)」として保存してください。"))
    if any(name.startswith("xl/externallinks/") for name in names):
        raise TemplateError(_("他のブックへのリンク(外部参照)を含むファイルは使えません。リンクを解除してください。"))
    if "xl/connections.xml" in names:
        raise TemplateError(_("外部データへの接続を含むファイルは使えません。接続を削除してください。"))
    if any(name.startswith(("xl/drawings/", "xl/media/")) for name in names):
        # openpyxl (without Pillow) does not carry pictures, shapes or text boxes into the saved workbook
        return [_("画像・図形・テキストボックスは作成する採用志願書には残りません。枠や文字はセルの罫線と値で作成してください。")]
    return []


def _check_names(wb: Any) -> dict[str, tuple[str, str]]:
    located = {name: place for name in fields.ALL if (place := _locate(wb, name)) is not None}
    missing = [name for name in fields.REQUIRED if name not in _defined(wb)]
    if missing:
        listed = "、".join(f"{name}({fields.REQUIRED[name]})" for name in missing)
        raise TemplateError(_("必要な名前の定義がありません: %(names)s。Excelの「数式」→「名前の管理」で定義してください。",
                              names=listed))
    broken = [name for name in fields.ALL if name in _defined(wb) and name not in located]
    if broken:
        raise TemplateError(_("名前の定義の参照先がこのブックのセルではありません: %(names)s。", names="、".join(broken)))
    return located


# --- reading templates and their history ---------------------------------------------------------------------

@cache
def default_template_bytes() -> bytes:
    return DATA_FILE.read_bytes()


def active_template(session: Session, kind: str = fields.APPLICATION) -> FormTemplate | None:
    return session.scalar(sa.select(FormTemplate).where(FormTemplate.form_kind == kind, FormTemplate.is_active)
                          .order_by(FormTemplate.uploaded_at.desc(), FormTemplate.id.desc()).limit(1))


def template_history(session: Session, kind: str = fields.APPLICATION) -> list[FormTemplate]:
    """Every uploaded template of the kind, newest first, without loading the file contents."""
    return list(session.scalars(sa.select(FormTemplate).where(FormTemplate.form_kind == kind)
                                .options(sa.orm.defer(FormTemplate.content))
                                .order_by(FormTemplate.uploaded_at.desc(), FormTemplate.id.desc())))


def store_template(session: Session, actor: Any, *, filename: str, content: bytes, ip: str | None,
                   kind: str = fields.APPLICATION) -> tuple[FormTemplate, list[str]]:
    """Check and store an uploaded template as the active one (older ones stay in the history, inactive).

    Returns the stored template and the warnings the administrator should read.
    """
    check = check_template(content)
    _deactivate(session, kind)
    template = FormTemplate(form_kind=kind, filename=safe_filename(filename), content=content,
                            sha256=sha256_of(content), uploaded_by_id=getattr(actor, "id", None),
                            uploaded_at=utcnow(), is_active=True)
    session.add(template)
    session.flush()
    audit.record(session, actor, "document.template_upload", f"form_template:{template.id}",
                 {"kind": kind, "sha256": template.sha256, "bytes": len(content), "names": sorted(check.names)}, ip)
    return template, check.warnings


def activate_template(session: Session, actor: Any, template: FormTemplate, ip: str | None) -> None:
    _deactivate(session, template.form_kind)
    template.is_active = True
    audit.record(session, actor, "document.template_activate", f"form_template:{template.id}",
                 {"kind": template.form_kind, "sha256": template.sha256}, ip)


def use_default_template(session: Session, actor: Any, ip: str | None, kind: str = fields.APPLICATION) -> None:
    _deactivate(session, kind)
    audit.record(session, actor, "document.template_default", f"form_kind:{kind}", {}, ip)


def _deactivate(session: Session, kind: str) -> None:
    session.execute(sa.update(FormTemplate).where(FormTemplate.form_kind == kind, FormTemplate.is_active)
                    .values(is_active=False))


def safe_filename(filename: str) -> str:
    """The base name of an uploaded file, without directories or control characters, at most 200 characters."""
    name = PurePath(filename.replace("\\", "/")).name if filename else ""
    name = _ILLEGAL_CHARS.sub("", name).strip() or "template.xlsx"
    return name[-200:]


# --- filling the form ----------------------------------------------------------------------------------------

def form_values(registrant: Registrant, *, today: date, era: bool = True) -> dict[str, Any]:
    """The value of every fillable name for this registrant (text, or a number for the age)."""
    day = format_wareki if era else format_western

    def codes(kind: str) -> str:
        return "、".join(code.label for code in registrant.codes_of(kind))

    remarks = [_("登録番号 %(id)d", id=registrant.id), _("登録日 %(date)s", date=day(_tokyo_date(registrant.registered_at))),
               _("有効期限 %(date)s", date=day(registrant.valid_until))]
    return {
        "form_date": day(today),
        "applicant_name": registrant.full_name,
        "applicant_kana": registrant.full_name_kana,
        "birth_date": day(registrant.birth_date) if registrant.birth_date else "",
        "age": age_on(registrant.birth_date, today) if registrant.birth_date else "",
        "postal_code": f"〒{registrant.postal_code}" if registrant.postal_code else "",
        "address": registrant.address or "",
        "phone": registrant.phone or "",
        "email": registrant.email,
        "region": registrant.region.label if registrant.region else "",
        "licences": codes("licence"),
        "subjects": codes("subject"),
        "job_types": codes("job_type"),
        "school_types": codes("school_type"),
        "available_from": day(registrant.available_from) if registrant.available_from else "",
        "availability_note": registrant.availability_note or "",
        "former_department": registrant.former_department or "",
        "left_year": _fiscal_year_label(registrant.left_year, era) if registrant.left_year else "",
        "career": registrant.career_note or "",
        "interests": registrant.interests or "",
        "remarks": " / ".join(remarks),
    }



def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _fiscal_year_label(year: int, era: bool) -> str:
    if not era or year < 1869:
        return _("%(year)d年度", year=year)
    return format_wareki(date(year, 4, 1)).split("年")[0] + _("年度")


def _tokyo_date(moment: Any) -> date:
    return to_tokyo(moment).date()  # type: ignore[union-attr]


def fill_template(content: bytes, values: dict[str, Any]) -> bytes:
    """Write `values` into the cells their defined names point at; return the workbook as .xlsx bytes."""
    wb = _load(content)
    for name, value in values.items():
        place = _locate(wb, name)
        if place is None:
            continue
        sheet, coordinate = place
        _write(wb[sheet], coordinate, value)
    wb.properties.creator = wb.properties.lastModifiedBy = "Tsunagu"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def application_form(session: Session, registrant: Registrant, *, era: bool = True,
                     today: date | None = None) -> bytes:
    """The filled 採用志願書 of one registrant, from the active template or the default one."""
    template = active_template(session)
    content = template.content if template else default_template_bytes()
    day = today or tokyo_today()
    return fill_template(content, form_values(registrant, today=day, era=era))


def form_filename(registrant_id: int, today: date) -> str:
    """No personal name in the file name: it shows up in mail gateways, download folders and logs."""
    return f"tsunagu-application-{registrant_id}-{today:%Y%m%d}.xlsx"


def record_form_output(session: Session, actor: Any, registrant_id: int, *, filename: str, data: bytes, era: bool,
                       ip: str | None) -> None:
    record_output(session, actor, kind=OutputKind.FORM, title=_("採用志願書"),
                  filters={"registrant_id": registrant_id, "era": era}, row_count=1, filename=filename,
                  sha256=sha256_of(data), ip=ip)


# --- workbook helpers ----------------------------------------------------------------------------------------

def _load(content: bytes) -> Any:
    from openpyxl import load_workbook

    return load_workbook(io.BytesIO(content), keep_vba=False, keep_links=False, rich_text=False)


def _defined(wb: Any) -> set[str]:
    names = set(wb.defined_names.keys())
    for ws in wb.worksheets:
        names |= set(ws.defined_names.keys())
    return names


def _locate(wb: Any, name: str) -> tuple[str, str] | None:
    """(sheet title, top-left cell) of a defined name (workbook-level first, then sheet-level), or None."""
    from openpyxl.utils.cell import get_column_letter, range_boundaries

    definition = wb.defined_names.get(name)
    if definition is None:
        definition = next((ws.defined_names[name] for ws in wb.worksheets if name in ws.defined_names), None)
    if definition is None:
        return None
    try:
        destinations = list(definition.destinations)
    except Exception:  # a constant, a formula or an error (#REF!) rather than a cell reference
        return None
    if not destinations:
        return None
    sheet, reference = destinations[0]
    if sheet not in wb.sheetnames:
        return None
    try:
        min_col, min_row = range_boundaries(reference.replace("$", ""))[:2]
    except (ValueError, TypeError):
        return None
    if min_col is None or min_row is None:  # a whole row or column
        return None
    return sheet, f"{get_column_letter(min_col)}{min_row}"


def _write(ws: Any, coordinate: str, value: Any) -> None:
    """Write into the cell, or into the top-left cell of the merged block that covers it; text stays text."""
    for merged in ws.merged_cells.ranges:
        if coordinate in merged:
            coordinate = merged.start_cell.coordinate
            break
    cell = ws[coordinate]
    if isinstance(value, str):
        cell.value = _ILLEGAL_CHARS.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))[:MAX_CELL_CHARS]
        cell.data_type = "s"  # openpyxl would take "=..." as a formula
    else:
        cell.value = value
