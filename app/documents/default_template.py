"""Build the default application-form template (採用志願書) shipped in app/documents/data/.

    python -m app.documents.default_template [--output PATH]

One A4 portrait sheet: title, 記入日, personal details with a photo box, licences and wishes, career and
remarks, each fillable cell (a merged block) located by a workbook-level defined name (app.documents.fields).
The bytes depend only on this code, so the shipped file can be compared with a fresh build.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.xlsx import reproducible_bytes
from app.documents import fields

DATA_FILE = Path(__file__).resolve().parent / "data" / "application-form.xlsx"
SHEET = "採用志願書"
FIXED_TIMESTAMP = datetime(2026, 4, 1, 0, 0, 0)
FONT = "ＭＳ 明朝"
COLUMN_WIDTHS = {"A": 15, "B": 11, "C": 11, "D": 11, "E": 10, "F": 11, "G": 11, "H": 11}
LAST_COLUMN = "H"

# (row, height in points, [(label cell range, label), ...], [(value cell range, defined name), ...])
# A label range of None leaves the row without a label column.
Row = tuple[int, float, list[tuple[str, str]], list[tuple[str, str]]]
ROWS: list[Row] = [
    (6, 16, [("A6", "ふりがな")], [("B6:F6", "applicant_kana")]),
    (7, 40, [("A7", "氏　名")], [("B7:F7", "applicant_name")]),
    (8, 26, [("A8", "生年月日"), ("E8", "年　齢")], [("B8:D8", "birth_date"), ("F8", "age")]),
    (9, 22, [("A9", "郵便番号")], [("B9:F9", "postal_code")]),
    (10, 40, [("A10", "住　所")], [("B10:F10", "address")]),
    (11, 24, [("A11", "電話番号"), ("E11", "居住地域")], [("B11:D11", "phone"), ("F11:H11", "region")]),
    (12, 24, [("A12", "メールアドレス")], [("B12:H12", "email")]),
    (14, 36, [("A14", "免許・資格")], [("B14:H14", "licences")]),
    (15, 24, [("A15", "教　科")], [("B15:H15", "subjects")]),
    (16, 24, [("A16", "希望職種")], [("B16:H16", "job_types")]),
    (17, 24, [("A17", "希望校種")], [("B17:H17", "school_types")]),
    (18, 24, [("A18", "勤務可能日")], [("B18:H18", "available_from")]),
    (19, 40, [("A19", "勤務条件")], [("B19:H19", "availability_note")]),
    (21, 24, [("A21", "退職時の所属"), ("F21", "退職年度")], [("B21:E21", "former_department"), ("G21:H21", "left_year")]),
    (22, 150, [("A22", "職歴・経歴")], [("B22:H22", "career")]),
    (23, 64, [("A23", "関心のある分野")], [("B23:H23", "interests")]),
    (24, 40, [("A24", "備　考")], [("B24:H24", "remarks")]),
]
SECTIONS = {5: "本人に関する事項", 13: "免許・資格と希望する勤務", 20: "職歴・経歴"}
PHOTO = "G6:H10"
LAST_ROW = 26


class _Styles:
    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        thin, medium = Side(style="thin", color="000000"), Side(style="medium", color="000000")
        self.thin, self.medium = thin, medium
        self.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.title = Font(name=FONT, size=20, bold=True)
        self.body = Font(name=FONT, size=11)
        self.name = Font(name=FONT, size=18)
        self.small = Font(name=FONT, size=9)
        self.section = Font(name=FONT, size=11, bold=True)
        self.label_fill = PatternFill("solid", fgColor="EDEDED")
        self.centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
        self.left = Alignment(horizontal="left", vertical="center", wrap_text=True, indent=1)
        self.top = Alignment(horizontal="left", vertical="top", wrap_text=True, indent=1)
        self.right = Alignment(horizontal="right", vertical="center")
        self.bottom = Alignment(horizontal="left", vertical="bottom")


def build_workbook() -> Any:
    from openpyxl import Workbook
    from openpyxl.packaging.core import DocumentProperties

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    styles = _Styles()
    for column, width in COLUMN_WIDTHS.items():
        ws.column_dimensions[column].width = width
    _heading(ws, styles)
    for number, title in SECTIONS.items():
        _section(ws, styles, number, title)
    for row, height, labels, values in ROWS:
        ws.row_dimensions[row].height = height
        for cells, text in labels:
            _block(ws, styles, cells, text, label=True)
        for cells, name in values:
            _block(ws, styles, cells, None, label=False, tall=height > 40, big=name == "applicant_name")
            _define(wb, name, cells)
    _photo_box(ws, styles)
    _footer(ws, styles)
    _page_setup(ws)
    wb.properties = DocumentProperties(title="採用志願書(既定の様式)", creator="Tsunagu", lastModifiedBy="Tsunagu",
                                       created=FIXED_TIMESTAMP, modified=FIXED_TIMESTAMP)
    return wb


def build_bytes() -> bytes:
    return reproducible_bytes(build_workbook(), FIXED_TIMESTAMP)


def _heading(ws: Any, styles: _Styles) -> None:
    ws.merge_cells(f"A1:{LAST_COLUMN}1")
    ws["A1"] = "採　用　志　願　書"
    ws["A1"].font, ws["A1"].alignment = styles.title, styles.centre
    ws.row_dimensions[1].height = 40
    ws.merge_cells("A3:D3")
    ws["A3"] = "教育委員会教育長　様"
    ws["A3"].font, ws["A3"].alignment = styles.body, styles.left
    ws["F3"] = "記入日"
    ws["F3"].font, ws["F3"].alignment = styles.body, styles.right
    ws.merge_cells(f"G3:{LAST_COLUMN}3")
    ws["G3"].font, ws["G3"].alignment = styles.body, styles.centre
    _define(ws.parent, "form_date", f"G3:{LAST_COLUMN}3")
    ws.merge_cells(f"A4:{LAST_COLUMN}4")
    ws["A4"] = "私は、講師等として勤務することを志願します。登録内容は下記のとおりです。"
    ws["A4"].font, ws["A4"].alignment = styles.body, styles.left
    ws.row_dimensions[3].height = ws.row_dimensions[4].height = 22


def _section(ws: Any, styles: _Styles, row: int, title: str) -> None:
    ws.merge_cells(f"A{row}:{LAST_COLUMN}{row}")
    cell = ws[f"A{row}"]
    cell.value, cell.font = f"■ {title}", styles.section
    cell.alignment = styles.bottom
    ws.row_dimensions[row].height = 24


def _block(ws: Any, styles: _Styles, cells: str, text: str | None, *, label: bool, tall: bool = False,
           big: bool = False) -> None:
    from openpyxl.utils.cell import range_boundaries

    if ":" in cells:
        ws.merge_cells(cells)
    min_col, min_row, max_col, max_row = range_boundaries(cells)
    for row in ws.iter_rows(min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col):
        for cell in row:
            cell.border = styles.border
            if label:
                cell.fill = styles.label_fill
    anchor = ws.cell(row=min_row, column=min_col)
    if label:
        anchor.value, anchor.font, anchor.alignment = text, styles.body, styles.centre
    else:
        anchor.font = styles.name if big else styles.body
        anchor.alignment = styles.top if tall else styles.left


def _define(wb: Any, name: str, cells: str) -> None:
    from openpyxl.utils.cell import absolute_coordinate, quote_sheetname
    from openpyxl.workbook.defined_name import DefinedName

    assert name in fields.ALL, name
    wb.defined_names[name] = DefinedName(name, attr_text=f"{quote_sheetname(SHEET)}!{absolute_coordinate(cells)}")


def _photo_box(ws: Any, styles: _Styles) -> None:
    from openpyxl.styles import Border

    ws.merge_cells(PHOTO)
    anchor = ws[PHOTO.split(":")[0]]
    anchor.value = "写真\n(縦4cm×横3cm)"
    anchor.font, anchor.alignment = styles.small, styles.centre
    for row in ws[PHOTO]:
        for cell in row:
            cell.border = Border(left=styles.thin, right=styles.thin, top=styles.thin, bottom=styles.thin)
    ws["F8"].number_format = '"満 "0" 歳"'


def _footer(ws: Any, styles: _Styles) -> None:
    ws.merge_cells(f"A{LAST_ROW}:{LAST_COLUMN}{LAST_ROW}")
    cell = ws[f"A{LAST_ROW}"]
    cell.value = "※ この志願書は、登録者ネットワーク「つなぐ」の登録内容から作成しました。記載内容に変更があれば届け出てください。"
    cell.font, cell.alignment = styles.small, styles.left
    ws.row_dimensions[LAST_ROW].height = 30


def _page_setup(ws: Any) -> None:
    ws.print_area = f"A1:{LAST_COLUMN}{LAST_ROW}"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_PORTRAIT
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.6
    ws.page_margins.top, ws.page_margins.bottom = 0.6, 0.5
    ws.page_margins.header = ws.page_margins.footer = 0.3
    ws.sheet_view.showGridLines = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the default 採用志願書 template.")
    parser.add_argument("--output", type=Path, default=DATA_FILE)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(build_bytes())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
