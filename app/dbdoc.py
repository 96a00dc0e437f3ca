"""The DB definition document (データベース定義書), a deliverable of the Nagasaki specification.

    python -m app.dbdoc OUTDIR        (``make docs`` writes into docs/)

The schema is documented **as the Alembic migrations create it**: a throwaway
application is built on a temporary SQLite file, ``flask db upgrade`` is applied,
and the result is read back with ``sqlalchemy.inspect``. SQLite does not store
comments, so the Japanese descriptions are joined in from the model metadata
(``comment=`` on every table and column).

Two files are written, both deterministic (sorted, no timestamps) so they can be
committed and their diffs stay readable:

* ``OUTDIR/db-definition.md``   -- Markdown, for review in the repository
* ``OUTDIR/db-definition.xlsx`` -- the Excel workbook handed to the customer
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from app.core.xlsx import reproducible_bytes

TITLE = "データベース定義書"
MARKDOWN_NAME = "db-definition.md"
XLSX_NAME = "db-definition.xlsx"
INDEX_SHEET = "目次"
COLUMN_HEADERS = ("No", "列名", "型", "NULL", "既定値", "キー", "説明")

# Alembic's own bookkeeping table is part of the database but not of the models.
ALEMBIC_VERSION_TABLE = "alembic_version"
BUILTIN_DESCRIPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    ALEMBIC_VERSION_TABLE: (
        "マイグレーション管理(Alembic が適用済みのリビジョンを記録する。アプリケーションは使用しない)",
        {"version_num": "適用済みのマイグレーションのリビジョンID"},
    ),
}

# Workbook properties are fixed so the same schema always gives the same bytes.
FIXED_TIMESTAMP = datetime(2026, 1, 1, 0, 0, 0)
_NUMERIC_TYPES = ("INTEGER", "BIGINT", "SMALLINT", "BOOLEAN", "NUMERIC", "DECIMAL", "FLOAT", "REAL")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ColumnDoc:
    name: str
    type: str
    nullable: bool
    default: str | None
    primary_key: bool
    foreign_keys: tuple[str, ...]  # "table.column" each
    unique: tuple[str, ...]  # "" for a single-column unique constraint, else the constraint name
    description: str

    @property
    def keys(self) -> str:
        parts = ["PK"] if self.primary_key else []
        parts += [f"FK→{target}" for target in self.foreign_keys]
        parts += ["UQ" if not name else f"UQ({name})" for name in self.unique]
        return ", ".join(parts)

    @property
    def null_label(self) -> str:
        return "可" if self.nullable else "不可"


@dataclass(frozen=True)
class ConstraintDoc:
    kind: str  # 主キー / 一意制約
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class IndexDoc:
    name: str
    columns: tuple[str, ...]
    unique: bool


@dataclass(frozen=True)
class ForeignKeyDoc:
    name: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    ondelete: str
    onupdate: str

    @property
    def target(self) -> str:
        return f"{self.referred_table}({', '.join(self.referred_columns)})"


@dataclass(frozen=True)
class TableDoc:
    name: str
    description: str
    columns: tuple[ColumnDoc, ...]
    constraints: tuple[ConstraintDoc, ...]
    indexes: tuple[IndexDoc, ...]
    foreign_keys: tuple[ForeignKeyDoc, ...]


# --------------------------------------------------------------------------- collecting


@contextmanager
def migrated_engine() -> Iterator[Engine]:
    """A temporary SQLite database with every migration applied, as a plain engine.

    The application is built with a throwaway instance folder so neither the local
    ``instance/config.toml`` nor its database is touched.
    """
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db

    workdir = Path(tempfile.mkdtemp(prefix="tsunagu-dbdoc-"))
    url = f"sqlite:///{workdir / 'schema.sqlite3'}"
    engine: Engine | None = None
    try:
        with _environment(TSUNAGU_INSTANCE_PATH=str(workdir)):
            app = create_app({"secret_key": "dbdoc-" + "x" * 40, "database_url": url,
                              "auth_log": str(workdir / "auth.log")})
        with app.app_context():
            upgrade()
            db.engine.dispose()
        engine = sa.create_engine(url)
        yield engine
    finally:
        if engine is not None:
            engine.dispose()
        _release_auth_log(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _release_auth_log(workdir: Path) -> None:
    """Close the auth-log handler create_app pointed into our temporary folder."""
    import logging

    from app.auth.authlog import LOGGER_NAME

    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        filename = getattr(handler, "baseFilename", "")
        if filename and Path(filename).is_relative_to(workdir.resolve()):
            logger.removeHandler(handler)
            handler.close()


def metadata() -> sa.MetaData:
    """The application's model metadata, with every model module imported."""
    from app import _import_models
    from app.extensions import db

    _import_models()
    return db.metadata


def head_revision(engine: Engine) -> str:
    """The Alembic revision(s) the database is at, e.g. ``0001``."""
    import logging

    from alembic.runtime.migration import MigrationContext

    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # no "Context impl SQLiteImpl" chatter
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    finally:
        alembic_log.setLevel(level)
    return ", ".join(sorted(heads))


def collect_schema(engine: Engine | None = None) -> list[TableDoc]:
    """Every table of the migrated database, sorted by name, with descriptions from the models."""
    if engine is None:
        with migrated_engine() as fresh:
            return collect_schema(fresh)
    meta = metadata()
    inspector = sa.inspect(engine)
    return [_table_doc(inspector, name, meta.tables.get(name)) for name in sorted(inspector.get_table_names())]


def _table_doc(inspector: Any, name: str, model: sa.Table | None) -> TableDoc:
    builtin_table, builtin_columns = BUILTIN_DESCRIPTIONS.get(name, ("", {}))
    pk = inspector.get_pk_constraint(name)
    pk_columns = tuple(pk.get("constrained_columns") or ())
    uniques = sorted(inspector.get_unique_constraints(name), key=lambda u: (u["name"] or "", u["column_names"]))
    fks = sorted(inspector.get_foreign_keys(name), key=lambda f: (f["name"] or "", f["constrained_columns"]))
    indexes = sorted(inspector.get_indexes(name), key=lambda i: (i["name"] or "", i["column_names"]))

    columns = []
    for column in inspector.get_columns(name):
        col = column["name"]
        model_column = model.columns.get(col) if model is not None else None
        description = (model_column.comment if model_column is not None else None) or builtin_columns.get(col, "")
        type_name = _type_name(column["type"])
        columns.append(ColumnDoc(
            name=col,
            type=type_name,
            nullable=bool(column["nullable"]),
            default=_default(column.get("default"), type_name),
            primary_key=col in pk_columns,
            foreign_keys=tuple(
                f"{fk['referred_table']}.{fk['referred_columns'][fk['constrained_columns'].index(col)]}"
                for fk in fks if col in fk["constrained_columns"]
            ),
            unique=tuple(
                "" if len(uq["column_names"]) == 1 else (uq["name"] or "")
                for uq in uniques if col in uq["column_names"]
            ),
            description=(description or "").strip(),
        ))

    constraints = []
    if pk_columns:
        constraints.append(ConstraintDoc("主キー", pk.get("name") or "", pk_columns))
    constraints += [ConstraintDoc("一意制約", uq["name"] or "", tuple(uq["column_names"])) for uq in uniques]
    options = [fk.get("options") or {} for fk in fks]
    return TableDoc(
        name=name,
        description=((model.comment if model is not None else None) or builtin_table).strip(),
        columns=tuple(columns),
        constraints=tuple(constraints),
        indexes=tuple(
            IndexDoc(ix["name"] or "", tuple(c or "" for c in ix["column_names"]), bool(ix["unique"]))
            for ix in indexes
        ),
        foreign_keys=tuple(
            ForeignKeyDoc(
                name=fk["name"] or "",
                columns=tuple(fk["constrained_columns"]),
                referred_table=fk["referred_table"],
                referred_columns=tuple(fk["referred_columns"]),
                ondelete=(opts.get("ondelete") or "").upper(),
                onupdate=(opts.get("onupdate") or "").upper(),
            )
            for fk, opts in zip(fks, options, strict=True)
        ),
    )


def _type_name(type_: Any) -> str:
    """Portable type name: VARCHAR(254), INTEGER, DATETIME, DATE, BOOLEAN, TEXT."""
    try:
        return str(type_.compile(dialect=sa.engine.default.DefaultDialect()))
    except sa.exc.CompileError:
        return str(type_).upper()


def _default(raw: str | None, type_name: str) -> str | None:
    """The server default as SQL; a quoted number on a numeric column is shown as the number."""
    if raw is None:
        return None
    text = str(raw).strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    unquoted = text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "'" else None
    if unquoted is not None and type_name.startswith(_NUMERIC_TYPES):
        try:
            float(unquoted)
        except ValueError:
            return text
        return unquoted
    return text


# --------------------------------------------------------------------------- Markdown


def escape_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks as <br>."""
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", "\n").replace("\n", "<br>")


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(escape_cell(c) for c in cells) + " |"


def _code(value: str | None) -> str:
    return f"`{value}`" if value else ""


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f"`{c}`" for c in columns)


def render_markdown(tables: Sequence[TableDoc], head: str) -> str:
    """The whole document as Markdown; the same input always gives the same text."""
    total_columns = sum(len(t.columns) for t in tables)
    out = [
        f"# {TITLE}",
        "",
        "Tsunagu(登録者ネットワーク・マッチング)のデータベース定義書です。",
        "",
        "<!-- このファイルは自動生成です。手で編集せず `make docs` で作り直してください。 -->",
        "",
        f"- 生成元: Alembic マイグレーション(head リビジョン `{head}`)を適用したスキーマ",
        "- 列・テーブルの説明: モデル定義(`app/*/models.py`)の `comment`",
        "- 生成方法: `make docs`(`python -m app.dbdoc docs`)。Excel 版は `db-definition.xlsx`",
        f"- 件数: {len(tables)} テーブル、{total_columns} 列",
        "",
        "凡例:",
        "",
        "- 型: SQLAlchemy の汎用型名で表記(MariaDB では BOOLEAN は TINYINT(1) として作成される)",
        "- NULL: 可 = NULL を許容 / 不可 = NOT NULL",
        "- 既定値: データベースに定義された既定値(アプリケーション側でのみ設定する既定値は含まない)",
        "- キー: PK = 主キー / FK→表.列 = 外部キー(参照先) / UQ = 一意制約 / "
        "UQ(制約名) = 複数列の一意制約の構成列",
        "",
        "## 目次",
        "",
        _row(("No", "テーブル名", "説明", "列数")),
        "| --: | --- | --- | --: |",
    ]
    for number, table in enumerate(tables, 1):
        out.append(_row((number, f"[`{table.name}`](#{table.name})", table.description, len(table.columns))))
    for table in tables:
        out += _render_table(table)
    return "\n".join(out).rstrip() + "\n"


def _render_table(table: TableDoc) -> list[str]:
    out = ["", f"## {table.name}", "", escape_cell(table.description) or "(説明なし)", "", "### 列", "",
           _row(COLUMN_HEADERS), "| --: | --- | --- | :-: | --- | --- | --- |"]
    for number, column in enumerate(table.columns, 1):
        out.append(_row((number, _code(column.name), column.type, column.null_label, _code(column.default),
                         column.keys, column.description)))
    out += ["", "### 制約", ""]
    if table.constraints:
        out += [_row(("種類", "制約名", "列")), "| --- | --- | --- |"]
        out += [_row((c.kind, _code(c.name), _names(c.columns))) for c in table.constraints]
    else:
        out.append("なし")
    out += ["", "### インデックス", ""]
    if table.indexes:
        out += [_row(("インデックス名", "列", "一意")), "| --- | --- | :-: |"]
        out += [_row((_code(ix.name), _names(ix.columns), "○" if ix.unique else "")) for ix in table.indexes]
    else:
        out.append("なし")
    out += ["", "### 外部キー", ""]
    if table.foreign_keys:
        out += [_row(("制約名", "列", "参照先", "ON DELETE", "ON UPDATE")), "| --- | --- | --- | --- | --- |"]
        out += [
            _row((_code(fk.name), _names(fk.columns), f"`{fk.target}`", fk.ondelete or "(指定なし)",
                  fk.onupdate or "(指定なし)"))
            for fk in table.foreign_keys
        ]
    else:
        out.append("なし")
    out += ["", "[目次へ戻る](#目次)"]
    return out


# --------------------------------------------------------------------------- Excel


def _display_width(text: str) -> int:
    """Width in Excel character units: full-width (Japanese) characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def sheet_names(tables: Sequence[TableDoc]) -> dict[str, str]:
    """Table name -> worksheet name (Excel: at most 31 characters, no []:*?/\\, unique)."""
    names: dict[str, str] = {}
    used = {INDEX_SHEET}
    for table in tables:
        base = "".join("_" if ch in "[]:*?/\\" else ch for ch in table.name)[:31] or "table"
        candidate, n = base, 2
        while candidate in used:
            suffix = f"~{n}"
            candidate, n = base[: 31 - len(suffix)] + suffix, n + 1
        used.add(candidate)
        names[table.name] = candidate
    return names


def write_xlsx(tables: Sequence[TableDoc], path: str | os.PathLike[str], head: str = "") -> None:
    """The workbook: a 目次 sheet linking to one sheet per table. Byte-for-byte reproducible."""
    Path(path).write_bytes(render_xlsx(tables, head))


def render_xlsx(tables: Sequence[TableDoc], head: str = "") -> bytes:
    from openpyxl import Workbook
    from openpyxl.packaging.core import DocumentProperties

    wb = Workbook()
    styles = _Styles()
    names = sheet_names(tables)
    index = wb.active
    index.title = INDEX_SHEET
    _write_index_sheet(index, tables, names, head, styles)
    for table in tables:
        _write_table_sheet(wb.create_sheet(names[table.name]), table, styles)

    wb.properties = DocumentProperties(
        title=f"Tsunagu {TITLE}", subject=TITLE, creator="Tsunagu (app.dbdoc)",
        lastModifiedBy="Tsunagu (app.dbdoc)", created=FIXED_TIMESTAMP, modified=FIXED_TIMESTAMP,
    )
    return reproducible_bytes(wb, FIXED_TIMESTAMP)


class _Styles:
    """One font family throughout (Excel otherwise mixes Calibri and a Japanese fallback)."""

    FONT = "Meiryo UI"

    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

        thin = Side(style="thin", color="808080")
        self.border = Border(left=thin, right=thin, top=thin, bottom=thin)
        self.body = Font(name=self.FONT, size=10)
        self.title = Font(name=self.FONT, bold=True, size=14)
        self.heading = Font(name=self.FONT, bold=True, size=11)
        self.label = Font(name=self.FONT, bold=True, size=10)
        self.header_font = Font(name=self.FONT, bold=True, size=10, color="FFFFFF")
        self.header_fill = PatternFill("solid", fgColor="305496")
        self.link = Font(name=self.FONT, size=10, color="0563C1", underline="single")
        self.left = Alignment(vertical="center", wrap_text=True)
        self.center = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _header(ws: Any, row: int, headers: Sequence[str], styles: _Styles) -> None:
    for col, text in enumerate(headers, 1):
        cell = ws.cell(row=row, column=col, value=text)
        cell.font = styles.header_font
        cell.fill = styles.header_fill
        cell.alignment = styles.center
        cell.border = styles.border


def _body(ws: Any, row: int, values: Sequence[object], styles: _Styles, centered: Sequence[int] = ()) -> None:
    for col, value in enumerate(values, 1):
        cell = ws.cell(row=row, column=col, value=value if value != "" else None)
        cell.font = styles.body
        cell.alignment = styles.center if col in centered else styles.left
        cell.border = styles.border


def _internal_link(cell: Any, sheet: str, styles: _Styles) -> None:
    from openpyxl.worksheet.hyperlink import Hyperlink

    cell.hyperlink = Hyperlink(ref=cell.coordinate, location=f"'{sheet}'!A1", display=str(cell.value))
    cell.font = styles.link


def _page_setup(ws: Any, header_row: int) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.75
    ws.page_margins.header = ws.page_margins.footer = 0.3
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.oddHeader.left.text = f"Tsunagu {TITLE}"
    ws.oddHeader.right.text = "&A"
    ws.oddFooter.center.text = "&P / &N"
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)


def _widths(ws: Any, rows: Sequence[Sequence[object]], minimum: Sequence[int], maximum: int = 70) -> None:
    from openpyxl.utils import get_column_letter

    for index, floor in enumerate(minimum):
        widest = max((_display_width(str(r[index])) for r in rows if index < len(r) and r[index] is not None),
                     default=0)
        # +3: bold headers and the proportional font need a little more than the character count
        ws.column_dimensions[get_column_letter(index + 1)].width = min(max(floor, widest + 3), maximum)


def _write_index_sheet(ws: Any, tables: Sequence[TableDoc], names: dict[str, str], head: str,
                       styles: _Styles) -> None:
    ws["A1"] = TITLE
    ws["A1"].font = styles.title
    ws["A2"] = (f"Tsunagu(登録者ネットワーク・マッチング) / 生成元: Alembic マイグレーション head "
                f"{head or '-'} / 説明: モデル定義の comment / 生成: make docs")
    ws["A3"] = (f"{len(tables)} テーブル、{sum(len(t.columns) for t in tables)} 列。"
                "テーブル名をクリックすると各テーブルのシートへ移動します。")
    ws["A2"].font = ws["A3"].font = styles.body
    header_row = 5
    headers = ("No", "テーブル名", "説明", "列数")
    _header(ws, header_row, headers, styles)
    rows: list[Sequence[object]] = [headers]
    for number, table in enumerate(tables, 1):
        values = (number, table.name, table.description, len(table.columns))
        _body(ws, header_row + number, values, styles, centered=(1, 4))
        _internal_link(ws.cell(row=header_row + number, column=2), names[table.name], styles)
        rows.append(values)
    _widths(ws, rows, minimum=(5, 18, 40, 7), maximum=100)
    _page_setup(ws, header_row)


def _write_table_sheet(ws: Any, table: TableDoc, styles: _Styles) -> None:
    ws["A1"] = "テーブル名"
    ws["A1"].font = styles.label
    ws["B1"] = table.name
    ws["B1"].font = styles.title
    ws["A2"] = "説明"
    ws["A2"].font = styles.label
    ws["B2"] = table.description or "(説明なし)"
    ws["B2"].font = styles.body
    ws["G1"] = "← 目次へ"
    _internal_link(ws["G1"], INDEX_SHEET, styles)
    header_row = 4
    _header(ws, header_row, COLUMN_HEADERS, styles)
    rows: list[Sequence[object]] = [COLUMN_HEADERS]
    for number, column in enumerate(table.columns, 1):
        values = (number, column.name, column.type, column.null_label, column.default or "", column.keys,
                  column.description)
        _body(ws, header_row + number, values, styles, centered=(1, 4))
        rows.append(values)

    row = header_row + len(table.columns) + 2
    # Sections share the grid with the column table, so each puts its wide texts (names)
    # under the wide columns and its short ones (種類, ON DELETE) under the narrow ones.
    sections: list[tuple[str, tuple[str, ...], list[tuple[object, ...]]]] = [
        ("制約", ("制約名", "列", "種類"),
         [(c.name, ", ".join(c.columns), c.kind) for c in table.constraints]),
        ("インデックス", ("インデックス名", "列", "一意"),
         [(ix.name, ", ".join(ix.columns), "○" if ix.unique else "") for ix in table.indexes]),
        ("外部キー", ("制約名", "列", "ON DELETE", "ON UPDATE", "参照先"),
         [(fk.name, ", ".join(fk.columns), fk.ondelete or "(指定なし)", fk.onupdate or "(指定なし)", fk.target)
          for fk in table.foreign_keys]),
    ]
    for title, headers, section_rows in sections:
        ws.cell(row=row, column=1, value=title).font = styles.heading
        row += 1
        if not section_rows:
            ws.cell(row=row, column=2, value="なし").font = styles.body
            row += 2
            continue
        for offset, text in enumerate(headers):
            cell = ws.cell(row=row, column=2 + offset, value=text)
            cell.font, cell.fill = styles.header_font, styles.header_fill
            cell.alignment, cell.border = styles.center, styles.border
        rows.append(("", *headers))
        for values in section_rows:
            row += 1
            for offset, value in enumerate(values):
                cell = ws.cell(row=row, column=2 + offset, value=value if value != "" else None)
                cell.font, cell.alignment, cell.border = styles.body, styles.left, styles.border
            rows.append(("", *values))
        row += 2

    _widths(ws, rows, minimum=(10, 18, 14, 7, 10, 16, 40))
    _page_setup(ws, header_row)


# --------------------------------------------------------------------------- command line


def build(outdir: str | os.PathLike[str], log: Any = None) -> tuple[list[TableDoc], str]:
    """Write both documents into `outdir`; returns the tables and the head revision."""
    log = log or sys.stderr
    target = Path(outdir)
    target.mkdir(parents=True, exist_ok=True)
    with migrated_engine() as engine:
        head = head_revision(engine)
        tables = collect_schema(engine)
    for table in tables:
        missing = [c.name for c in table.columns if not c.description]
        note = f"  (説明なし: {', '.join(missing)})" if missing else ""
        print(f"  {table.name}: {_count(len(table.columns), 'column')}, {_count(len(table.indexes), 'index')}, "
              f"{_count(len(table.foreign_keys), 'foreign key')}{note}", file=log)
    (target / MARKDOWN_NAME).write_text(render_markdown(tables, head), encoding="utf-8", newline="\n")
    write_xlsx(tables, target / XLSX_NAME, head)
    print(f"{TITLE}: {len(tables)} tables, {sum(len(t.columns) for t in tables)} columns at revision {head} "
          f"-> {target / MARKDOWN_NAME}, {target / XLSX_NAME}", file=log)
    return tables, head


def _count(n: int, noun: str) -> str:
    plural = noun + ("es" if noun.endswith("x") else "s")
    return f"{n} {noun if n == 1 else plural}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m app.dbdoc OUTDIR", file=sys.stderr)
        return 2
    build(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
