"""Workbooks whose bytes depend only on their content (so generated files can be committed and compared)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from typing import Any

_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


def reproducible_bytes(wb: Any, modified: datetime) -> bytes:
    """Save, then re-pack the zip with fixed entry timestamps and `modified` as the document's modified time.

    openpyxl stamps ``modified`` with the current time and the zip entries with the current local time;
    both would make every save differ.
    """
    from openpyxl.xml.functions import tostring

    raw = io.BytesIO()
    wb.save(raw)
    wb.properties.modified = modified
    core = tostring(wb.properties.to_tree())
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            content = core if item.filename == "docProps/core.xml" else src.read(item.filename)
            info = zipfile.ZipInfo(item.filename, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            dst.writestr(info, content)
    return out.getvalue()


class _InOrder:
    """What zipfile needs of an output stream it cannot seek in: write and flush (the zip is written in order)."""

    def __init__(self, out: Any) -> None:
        self._out = out

    def write(self, data: bytes) -> int:
        return self._out.write(data)

    def flush(self) -> None:
        """Nothing to do: the writer's spooled file is flushed when it is rewound and read."""


def save_streaming(workbook: Any, out: Any) -> None:
    """Save a (write-only) workbook into a forward-only writer such as app.outputs.services.HashingWriter."""
    workbook.save(_InOrder(out))
