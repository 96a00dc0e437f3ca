"""CSV and xlsx lists of a registrant search (S-A8), streamed from the database with constant memory.

Rows come from one statement read in chunks (`yield_per`: a server-side cursor on MariaDB); each row
carries its code ids from a correlated GROUP_CONCAT, so no second query runs while the cursor is open.
The file goes through `HashingWriter` (spooled temp file + SHA-256) and into the output history.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy.orm import Session

from app.core.timeutil import TOKYO
from app.core.xlsx import save_streaming
from app.outputs.models import OutputKind, OutputRecord
from app.outputs.services import HashingWriter, record_output
from app.registrants.models import Registrant, registrant_code
from app.searches.columns import COLUMNS, RowCodes, code_labels, needs_codes, row_values
from app.searches.services import describe

CHUNK = 1000
TITLE = "登録者一覧"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_SELECTED = 1000
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class ExportResult:
    writer: HashingWriter
    filename: str
    mimetype: str
    record: OutputRecord


def _code_ids_expression() -> Any:
    """Every code id attached to the row's registrant, as one comma-separated string (or NULL)."""
    return (sa.select(sa.func.group_concat(registrant_code.c.code_id))
            .where(registrant_code.c.registrant_id == Registrant.id)
            .scalar_subquery())


def stream_rows(session: Session, stmt: sa.Select[Any], columns: list[str]) -> Iterator[list[Any]]:
    """The chosen column values of every row of `stmt` (a select of Registrant), read in chunks."""
    labels = code_labels(session) if needs_codes(columns) else {}
    if labels:
        stmt = stmt.add_columns(_code_ids_expression())
    result = session.execute(stmt.execution_options(yield_per=CHUNK))
    for partition in result.partitions():
        for row in partition:
            registrant = row[0]
            codes = _group_codes(row[1], registrant.region_id, labels) if labels else {}
            yield row_values(columns, registrant, codes)


def _group_codes(joined: str | None, region_id: int | None, labels: dict[int, tuple[str, str, int]]) -> RowCodes:
    entries = []
    for part in (joined or "").split(","):
        if part.isdigit() and int(part) in labels:
            kind, label, order = labels[int(part)]
            entries.append((order, kind, label))
    grouped: RowCodes = {}
    for _order, kind, label in sorted(entries):
        grouped.setdefault(kind, []).append(label)
    if region_id in labels:
        grouped["region"] = [labels[region_id][1]]  # type: ignore[index]
    return grouped


def headers(columns: list[str]) -> list[str]:
    return [str(COLUMNS[key].label) for key in columns]


# --- CSV ----------------------------------------------------------------------------------------

def csv_cell(value: Any) -> str:
    """A value as CSV text; text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def write_csv(rows: Iterator[list[Any]], header: list[str], out: HashingWriter) -> int:
    """UTF-8 with BOM and CRLF, as Excel opens it without an import dialogue; returns the data row count."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    out.write("\ufeff".encode())
    writer.writerow([csv_cell(value) for value in header])
    count = 0
    for values in rows:
        writer.writerow([csv_cell(value) for value in values])
        count += 1
        if count % CHUNK == 0:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().encode("utf-8"))
    return count


# --- xlsx ---------------------------------------------------------------------------------------

def write_xlsx(rows: Iterator[list[Any]], header: list[str], out: HashingWriter) -> int:
    """A write-only workbook (rows go to a temp file, not memory); text is never stored as a formula."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(TITLE)
    sheet.freeze_panes = "A2"
    sheet.append(header)
    count = 0
    for values in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in values])
        count += 1
    save_streaming(workbook, out)
    return count



def _xlsx_cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # openpyxl would otherwise write "=…" as a formula
        return cell
    if isinstance(value, date) and not isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    return value


# --- the whole export ---------------------------------------------------------------------------

def export_filename(fmt: str, now: datetime | None = None) -> str:
    moment = (now or datetime.now(TOKYO)).astimezone(TOKYO)
    return f"tsunagu-registrants-{moment:%Y%m%d-%H%M}.{fmt}"


def export_registrants(session: Session, actor: Any, fmt: str, *, stmt: sa.Select[Any], columns: list[str],
                       criteria: dict[str, Any], sort: str, selected: list[int] | None,
                       ip: str | None) -> ExportResult:
    """Write the list, record it in the output history (and audit); the caller commits and sends the file."""
    if fmt not in CONTENT_TYPES:
        raise ValueError(fmt)
    if selected is not None:
        stmt = stmt.where(Registrant.id.in_(selected))
    out = HashingWriter()
    rows = stream_rows(session, stmt, columns)
    count = (write_csv if fmt == "csv" else write_xlsx)(rows, headers(columns), out)
    filename = export_filename(fmt)
    filters: dict[str, Any] = {"criteria": describe(criteria), "columns": columns, "sort": sort}
    if selected is not None:
        filters["selected"] = len(selected)
    record = record_output(session, actor, kind=OutputKind.CSV if fmt == "csv" else OutputKind.XLSX,
                           title=str(_l("登録者一覧")), filters=filters, row_count=count, filename=filename,
                           sha256=out.sha256, ip=ip)
    return ExportResult(out, filename, CONTENT_TYPES[fmt], record)
