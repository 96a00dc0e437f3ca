"""DB definition document (Nagasaki deliverable データベース定義書): app.dbdoc and docs/db-definition.*.

The document is generated from the schema the migrations create, joined with the
Japanese comments of the models. These tests keep the three in step: every table and
column has a comment, the committed documents match what the generator produces now,
and the migrations create exactly what the models describe.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from openpyxl import load_workbook
from sqlalchemy.engine import Engine

from app import dbdoc

DOCS = Path(__file__).resolve().parents[2] / "docs"
COMMITTED_MD = DOCS / dbdoc.MARKDOWN_NAME
COMMITTED_XLSX = DOCS / dbdoc.XLSX_NAME
REGENERATE = "run `make docs` (python -m app.dbdoc docs) and commit docs/db-definition.*"


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with dbdoc.migrated_engine() as migrated:
        yield migrated


@pytest.fixture(scope="module")
def tables(engine: Engine) -> list[dbdoc.TableDoc]:
    return dbdoc.collect_schema(engine)


@pytest.fixture(scope="module")
def head(engine: Engine) -> str:
    return dbdoc.head_revision(engine)


def _table_rows(sheet) -> list[tuple]:
    """The column rows of a table sheet: below the header row, up to the first blank No."""
    rows = []
    for row in sheet.iter_rows(min_row=5, max_col=len(dbdoc.COLUMN_HEADERS), values_only=True):
        if row[0] is None:
            break
        rows.append(row)
    return rows


def _all_values(data: bytes) -> dict[str, list[tuple]]:
    workbook = load_workbook(io.BytesIO(data))
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in workbook.worksheets}
    finally:
        workbook.close()


def test_every_table_and_column_of_the_models_has_a_japanese_comment() -> None:
    """The descriptions of the DB definition document come from `comment=`; none may be missing."""
    missing = []
    for table in sorted(dbdoc.metadata().tables.values(), key=lambda t: t.name):
        if not (table.comment or "").strip():
            missing.append(f"{table.name} (table: add __table_args__ = {{'comment': ...}})")
        missing += [f"{table.name}.{column.name}" for column in table.columns if not (column.comment or "").strip()]
    assert not missing, "add a Japanese comment= to: " + ", ".join(missing)


def test_the_migrations_create_exactly_what_the_models_describe(engine: Engine) -> None:
    """Alembic autogenerate finds nothing to do: a model change without a migration fails here."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diffs = compare_metadata(context, dbdoc.metadata())
    # SQLite keeps no comments; should alembic ever report them there, they are not drift.
    diffs = [d for d in diffs if not _is_comment_only(d)]
    assert not diffs, ("models and migrations disagree; add a migration (flask db migrate -m ...):\n"
                       + "\n".join(map(repr, diffs)))


def _is_comment_only(diff: object) -> bool:
    if isinstance(diff, tuple) and diff and diff[0] in ("add_table_comment", "remove_table_comment"):
        return True
    if isinstance(diff, list):  # column modifications come as a list of ("modify_...", ...) tuples
        return all(isinstance(d, tuple) and d[0] == "modify_comment" for d in diff)
    return False


def test_every_model_table_and_column_is_documented_with_its_description(tables) -> None:
    documented = {t.name: t for t in tables}
    for table in dbdoc.metadata().tables.values():
        assert table.name in documented, f"{table.name} is in the models but not in the migrated database"
        doc = documented[table.name]
        assert doc.description == table.comment
        # the document lists columns in the database's order (later migrations append them)
        assert sorted(c.name for c in doc.columns) == sorted(c.name for c in table.columns), table.name
        for column in doc.columns:
            assert column.description == table.columns[column.name].comment, f"{table.name}.{column.name}"
    assert all(c.description for t in tables for c in t.columns)
    assert [t.name for t in tables] == sorted(documented)


def test_keys_types_and_defaults_are_read_from_the_migrated_schema(tables) -> None:
    by_name = {t.name: {c.name: c for c in t.columns} for t in tables}
    registrant = by_name["registrant"]
    assert registrant["id"].keys == "PK"
    assert registrant["email"].type == "VARCHAR(254)" and registrant["email"].keys == "UQ"
    assert registrant["region_id"].keys == "FK→code.id" and registrant["region_id"].nullable
    assert registrant["birth_date"].type == "DATE"
    assert registrant["registered_at"].type == "DATETIME" and not registrant["registered_at"].nullable
    assert by_name["registrant_code"]["code_id"].keys == "PK, FK→code.id"
    assert by_name["code"]["kind"].keys == "UQ(uq_code_kind_code)"
    assert by_name["code"]["sort_order"].default == "0"
    assert by_name["staff_user"]["is_enabled"].type == "BOOLEAN"
    assert by_name["audit_event"]["detail"].type == "TEXT"
    fks = {fk.name: fk for fk in {t.name: t for t in tables}["registrant"].foreign_keys}
    fk = fks["fk_registrant_region_id_code"]
    assert (fk.target, fk.ondelete) == ("code(id)", "SET NULL")


def test_committed_markdown_is_what_the_generator_produces_now(tables, head) -> None:
    """docs/db-definition.md never goes stale: regenerate it whenever the schema or a comment changes."""
    assert COMMITTED_MD.exists(), f"{COMMITTED_MD} is missing: {REGENERATE}"
    expected = dbdoc.render_markdown(tables, head)
    actual = COMMITTED_MD.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True),
                                            "docs/db-definition.md (committed)", "generated now", n=1))
        pytest.fail(f"docs/db-definition.md is out of date: {REGENERATE}\n{diff[:4000]}")


def test_markdown_has_title_head_revision_contents_and_a_section_per_table(tables, head) -> None:
    text = dbdoc.render_markdown(tables, head)
    assert text.startswith("# データベース定義書\n")
    assert f"head リビジョン `{head}`" in text
    assert "## 目次" in text
    for table in tables:
        assert f"[`{table.name}`](#{table.name})" in text
        assert f"\n## {table.name}\n\n{table.description}\n" in text
    assert "| No | 列名 | 型 | NULL | 既定値 | キー | 説明 |" in text
    assert text == dbdoc.render_markdown(tables, head)  # deterministic


def test_markdown_cells_escape_pipes_and_line_breaks() -> None:
    assert dbdoc.escape_cell("a | b") == "a \\| b"
    assert dbdoc.escape_cell("一行目\n二行目") == "一行目<br>二行目"
    assert dbdoc.escape_cell(None) == ""
    column = dbdoc.ColumnDoc(name="x", type="TEXT", nullable=True, default=None, primary_key=False,
                             foreign_keys=(), unique=(), description="A|B")
    table = dbdoc.TableDoc(name="t", description="表|説明", columns=(column,), constraints=(), indexes=(),
                           foreign_keys=())
    text = dbdoc.render_markdown([table], "abc")
    assert "| 1 | `x` | TEXT | 可 |  |  | A\\|B |" in text
    assert "表\\|説明" in text


def test_committed_xlsx_has_an_index_sheet_and_a_described_sheet_per_table(tables) -> None:
    """The Excel deliverable: 目次 plus one sheet per table, and no column row without its description."""
    assert COMMITTED_XLSX.exists(), f"{COMMITTED_XLSX} is missing: {REGENERATE}"
    workbook = load_workbook(COMMITTED_XLSX)
    try:
        names = dbdoc.sheet_names(tables)
        assert workbook.sheetnames == [dbdoc.INDEX_SHEET, *(names[t.name] for t in tables)]

        index = workbook[dbdoc.INDEX_SHEET]
        assert index["A1"].value == "データベース定義書"
        assert [c.value for c in index[5]] == ["No", "テーブル名", "説明", "列数"]
        for number, table in enumerate(tables, 1):
            cell = index.cell(row=5 + number, column=2)
            assert (cell.value, index.cell(row=5 + number, column=3).value) == (table.name, table.description)
            assert cell.hyperlink is not None and cell.hyperlink.location == f"'{names[table.name]}'!A1"

        for table in tables:
            sheet = workbook[names[table.name]]
            assert sheet["B1"].value == table.name
            assert tuple(c.value for c in sheet[4]) == dbdoc.COLUMN_HEADERS
            assert sheet.freeze_panes == "A5"
            assert sheet.page_setup.orientation == "landscape"
            assert sheet.page_setup.fitToWidth == 1
            rows = _table_rows(sheet)
            assert [r[1] for r in rows] == [c.name for c in table.columns], f"{table.name}: {REGENERATE}"
            undescribed = [f"{table.name}.{r[1]}" for r in rows if not r[6]]
            assert not undescribed, f"columns without a description in the workbook: {undescribed}"
    finally:
        workbook.close()


def test_committed_xlsx_is_what_the_generator_produces_now(tables, head) -> None:
    """Cell by cell, so an openpyxl upgrade that changes the XML does not fail this."""
    assert _all_values(COMMITTED_XLSX.read_bytes()) == _all_values(dbdoc.render_xlsx(tables, head)), (
        f"docs/db-definition.xlsx is out of date: {REGENERATE}")


def test_xlsx_is_byte_for_byte_reproducible(tables, head, tmp_path) -> None:
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    dbdoc.write_xlsx(tables, first, head)
    dbdoc.write_xlsx(tables, second, head)
    assert first.read_bytes() == second.read_bytes()
    workbook = load_workbook(first)
    try:
        assert workbook.properties.created == dbdoc.FIXED_TIMESTAMP
        assert workbook.properties.modified == dbdoc.FIXED_TIMESTAMP
    finally:
        workbook.close()


def test_command_line_writes_both_documents_and_reports_progress(tmp_path, capsys) -> None:
    assert dbdoc.main([str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    written = tmp_path / "out"
    assert (written / dbdoc.MARKDOWN_NAME).read_text(encoding="utf-8") == COMMITTED_MD.read_text(
        encoding="utf-8"), REGENERATE
    assert (written / dbdoc.XLSX_NAME).exists()
    for table in dbdoc.metadata().tables:
        assert f"  {table}: " in err
    assert "データベース定義書:" in err and "tables" in err


def test_command_line_without_outdir_prints_usage(capsys) -> None:
    assert dbdoc.main([]) == 2
    assert "usage: python -m app.dbdoc OUTDIR" in capsys.readouterr().err
