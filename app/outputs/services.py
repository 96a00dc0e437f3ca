"""Record every produced file and every mail send in the output history, and in the audit chain.

Exporters write their file to a spooled temporary file (constant memory, whatever the row count),
hash it while writing, then call `record_output` and stream the file to the browser.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from typing import IO, Any

from sqlalchemy.orm import Session

from app import audit
from app.outputs.models import OutputKind, OutputRecord

SPOOL_IN_MEMORY_BYTES = 1024 * 1024  # larger files spill to a temporary file on disk


class HashingWriter:
    """A binary file that computes its SHA-256 while being written; rewind with `.file.seek(0)` to send it."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self.file.write(data)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def rewound(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_output(session: Session, actor: Any, *, kind: OutputKind, title: str, filters: dict[str, Any],
                  row_count: int, filename: str | None, sha256: str | None, ip: str | None) -> OutputRecord:
    """Add one output-history row and its audit event (committed with the caller's transaction).

    `filters` describes what was selected (criteria, saved-search id, registrant ids): never names or
    addresses, since the history is itself exported.
    """
    entry = OutputRecord(kind=kind.value, title=title[:200], staff_id=getattr(actor, "id", None),
                         staff_name=getattr(actor, "display_name", "system")[:120],
                         filter_description=json.dumps(filters, ensure_ascii=False, sort_keys=True, default=str),
                         row_count=row_count, filename=filename, sha256=sha256)
    session.add(entry)
    session.flush()
    audit.record(session, actor, f"output.{kind.value}", f"output:{entry.id}",
                 {"title": entry.title, "rows": row_count, "sha256": sha256, "filename": filename}, ip)
    return entry
