"""registrants.xlsx of the hand-over package: the same rows as the CSV files, laid out for people.

A 説明 (about) sheet first, then one sheet per entity with two header rows — the Japanese column
name, then the English field name (= the CSV header) — frozen with the first column, sized columns,
and print settings (A4 landscape, header rows repeated). Text is always stored as text, never as a
formula. Written in openpyxl's write-only mode so large installations stay within memory, and
re-packed with fixed timestamps so the same data gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from copy import copy
from datetime import date, datetime
from typing import Any

from app.core.xlsx import reproducible_bytes
from app.handover.schema import ENTITIES, FORMAT, FORMAT_VERSION, Entity, Field
from app.handover.services import display_width, xlsx_text

ABOUT_SHEET = "説明"
FONT = "Meiryo UI"
WIDTH_SAMPLE = 500  # rows looked at to size a column
MIN_WIDTH, MAX_WIDTH = 8, 40
FIXED_WIDTHS = {"date": 12, "datetime": 21, "boolean": 10}
LINE_HEIGHT, MAX_LINES = 13.5, 6  # points per line of a 10-point font; taller values scroll inside the cell


class _Styles:
    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        thin = Side(style="thin", color="A6A6A6")
        self.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.title = Font(name=FONT, bold=True, size=14)
        self.body = Font(name=FONT, size=10)
        self.bold = Font(name=FONT, size=10, bold=True)
        self.header = Font(name=FONT, bold=True, size=10, color="FFFFFF")
        self.header_fill = PatternFill("solid", fgColor="305496")
        self.field = Font(name="Consolas", size=9, color="404040")
        self.field_fill = PatternFill("solid", fgColor="DDEBF7")
        self.centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
        self.top = Alignment(vertical="top", wrap_text=True)
        self.plain = Alignment(vertical="top")
        self.centre_top = Alignment(horizontal="center", vertical="top")


def render_workbook(data: dict[str, list[dict[str, Any]]], generated_at: datetime) -> bytes:
    from openpyxl import Workbook
    from openpyxl.packaging.core import DocumentProperties

    wb = Workbook(write_only=True)
    _STYLE_CACHE.clear()  # style ids belong to one workbook
    styles = _Styles()
    _about_sheet(wb.create_sheet(ABOUT_SHEET), data, generated_at, styles)
    for entity in ENTITIES:
        _entity_sheet(wb.create_sheet(entity.sheet), entity, data[entity.name], styles)
    wb.properties = DocumentProperties(
        title="Tsunagu 引き継ぎパッケージ(登録者データ)", creator="Tsunagu", lastModifiedBy="Tsunagu",
        created=generated_at, modified=generated_at)
    return reproducible_bytes(wb, generated_at)


_STYLE_CACHE: dict[tuple[Any, ...], Any] = {}


def _cell(ws: Any, value: Any, font: Any = None, fill: Any = None, alignment: Any = None, border: Any = None,
          number_format: str | None = None) -> Any:
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, str):
        value = xlsx_text(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # "=SUM(...)" stays text: a workbook cell never becomes a formula
    # Assigning style objects costs a hash of each per cell; the same combination reuses the style ids.
    key = (id(ws.parent), id(font), id(fill), id(alignment), id(border), number_format)
    cached = _STYLE_CACHE.get(key)
    if cached is not None:
        cell._style = copy(cached)
        return cell
    for name, style in (("font", font), ("fill", fill), ("alignment", alignment), ("border", border)):
        if style is not None:
            setattr(cell, name, style)
    if number_format:
        cell.number_format = number_format
    _STYLE_CACHE[key] = copy(cell._style)
    return cell


ABOUT_WIDTHS = {"A": 16, "B": 72, "C": 22, "D": 8}
ABOUT_NOTES = (
    "このブックは閲覧用です。システムへの取り込みには、同じフォルダの CSV ファイルを使います(内容は同じです)。",
    "各シートの1行目は項目名(日本語)、2行目は項目名(英語。CSV の列名と同じ)です。",
    "日時はすべて UTC です(日本時間は9時間進みます)。日付は YYYY-MM-DD 形式です。",
    "パスワードなどの認証情報は含みません。引き継ぎ先では、登録者がパスワードを設定し直します。",
    "CSV では、= + - @ などで始まる文字列の先頭に ' が1文字付いています(数式の実行を防ぐため)。"
    "取り込む側はこれを取り除きます。",
    "ファイルの一覧と SHA-256 は manifest.json に、項目の定義は handover-schema.json にあります。",
)


def _about_sheet(ws: Any, data: dict[str, list[dict[str, Any]]], generated_at: datetime, styles: _Styles) -> None:
    """Title, the list of sheets, and how to read them; long text wraps in column B, rows sized to fit."""
    for letter, width in ABOUT_WIDTHS.items():
        ws.column_dimensions[letter].width = width
    _print_setup(ws, None)
    ws.sheet_properties.pageSetUpPr.fitToPage = True  # before the first row: write-only sheets stream out
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    rows: list[tuple[list[Any], str]] = [
        ([_cell(ws, "Tsunagu 引き継ぎパッケージ(登録者データ)", styles.title)], ""),
        ([_cell(ws, f"作成日時(UTC): {generated_at.isoformat()}Z   形式: {FORMAT} {FORMAT_VERSION}", styles.body)], ""),
        ([], ""),
        ([_cell(ws, h, styles.header, styles.header_fill, styles.centre, styles.border)
          for h in ("シート", "内容", "CSVファイル", "件数")], ""),
    ]
    for entity in ENTITIES:
        rows.append(([_cell(ws, entity.sheet, styles.bold, None, styles.top, styles.border),
                      _cell(ws, entity.description, styles.body, None, styles.top, styles.border),
                      _cell(ws, entity.file, styles.body, None, styles.top, styles.border),
                      _cell(ws, len(data[entity.name]), styles.body, None, styles.top, styles.border)],
                     entity.description))
    rows.append(([], ""))
    for number, note in enumerate(ABOUT_NOTES, start=1):
        rows.append(([_cell(ws, f"注意 {number}", styles.bold, None, styles.top),
                      _cell(ws, note, styles.body, None, styles.top)], note))
    for index, (cells, wrapped) in enumerate(rows, start=1):
        if wrapped:  # spreadsheet programs do not all re-measure wrapped rows on opening: give the height
            # a 10-point body font fits about 1.15 width units per column unit
            lines = -(-display_width(wrapped) // int(ABOUT_WIDTHS["B"] * 1.15))
            ws.row_dimensions[index].height = 15 * max(lines, 1)
        ws.append(cells)


def _title(field: Field) -> str:
    return f"{field.title}(UTC)" if field.type == "datetime" else field.title


def _widths(entity: Entity, rows: Sequence[dict[str, Any]]) -> list[float]:
    widths = []
    for field in entity.fields:
        header = max(display_width(_title(field)), display_width(field.name))
        if field.type in FIXED_WIDTHS:
            widths.append(max(FIXED_WIDTHS[field.type], header + 2))
            continue
        widest = max((display_width(str(row[field.name])) for row in rows[:WIDTH_SAMPLE]
                      if row[field.name] is not None), default=0)
        widths.append(min(max(MIN_WIDTH, header + 2, widest + 2), MAX_WIDTH))
    return widths


def _entity_sheet(ws: Any, entity: Entity, rows: Sequence[dict[str, Any]], styles: _Styles) -> None:
    from openpyxl.utils import get_column_letter

    for index, width in enumerate(_widths(entity, rows), start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "B3"
    _print_setup(ws, entity)
    ws.append([_cell(ws, _title(f), styles.header, styles.header_fill, styles.centre, styles.border)
               for f in entity.fields])
    ws.append([_cell(ws, f.name, styles.field, styles.field_fill, styles.centre, styles.border)
               for f in entity.fields])
    for number, row in enumerate(rows, start=3):
        lines = max((xlsx_text(v).count("\n") + 1 for v in row.values() if isinstance(v, str)), default=1)
        if lines > 1:  # a multi-line value wraps in a taller row instead of spilling over the rows below
            ws.row_dimensions[number].height = LINE_HEIGHT * min(lines, MAX_LINES)
        ws.append([_data_cell(ws, f, row[f.name], styles) for f in entity.fields])


def _data_cell(ws: Any, field: Field, value: Any, styles: _Styles) -> Any:
    if value is None:
        return None  # an empty cell is simply not written
    if field.type == "datetime" and isinstance(value, datetime):
        return _cell(ws, value, styles.body, alignment=styles.plain, number_format="yyyy-mm-dd hh:mm:ss")
    if field.type == "date" and isinstance(value, date):
        return _cell(ws, value, styles.body, alignment=styles.plain, number_format="yyyy-mm-dd")
    if field.type == "boolean" and value is not None:
        # the same words as the CSV; spreadsheet programs disagree on how to show a boolean cell
        return _cell(ws, "true" if value else "false", styles.body, alignment=styles.centre_top)
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        return _cell(ws, value, styles.body, alignment=styles.top)
    return _cell(ws, value, styles.body, alignment=styles.plain)


def _print_setup(ws: Any, entity: Entity | None) -> None:
    """A4 landscape; on data sheets the two header rows and the id column repeat on every page, pages run
    across before down (one registrant's columns stay together), gridlines are printed, 80 % scale."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top, ws.page_margins.bottom = 0.9, 0.7
    ws.page_margins.header = ws.page_margins.footer = 0.3
    ws.oddHeader.left.text = "Tsunagu 引き継ぎパッケージ"
    ws.oddHeader.right.text = "&A"
    ws.oddFooter.center.text = "&P / &N"
    if entity is not None:
        ws.print_title_rows = "1:2"
        ws.print_title_cols = "A:A"
        ws.page_setup.pageOrder = "overThenDown"
        ws.page_setup.scale = 80
        ws.print_options.gridLines = True


