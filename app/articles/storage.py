"""Images uploaded for articles: checked by content, stored outside the web root by their SHA-256.

The type is what Pillow finds in the bytes (PNG, JPEG, GIF or WebP), never what the name or the browser
claims; a name or declared type that disagrees with the content is refused, as are names with a path,
files over `image_max_bytes` and images whose pixel count betrays a decompression bomb. Files live in
`<instance>/uploads/images/<sha256>` (directories 0750, files 0640): the same content is stored once and
is only ever served through the image route, by id, with the type decided here.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from app import audit
from app.articles.models import UploadedImage

log = logging.getLogger("tsunagu.articles")

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "gif": "GIF", "webp": "WEBP"}
# A declared MIME type that says nothing about the content (some browsers send it for every file).
UNSPECIFIC_MIME = frozenset({"", "application/octet-stream"})
MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
MAX_PIXELS = 40_000_000  # far above any photo an article needs; a small file decoding to more is a bomb
FILENAME_MAX = 200
DIR_MODE = 0o750
FILE_MODE = 0o640
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]")


class ImageRejected(ValueError):
    """An upload refused; the message (Japanese first) tells the user why."""


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    sha256: str
    content_type: str
    width: int
    height: int
    filename: str


def image_dir(instance_path: str) -> Path:
    return Path(instance_path) / "uploads" / "images"


def image_path(instance_path: str, sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256 hex digest")
    return image_dir(instance_path) / sha256


def check_filename(filename: str | None) -> str:
    name = filename or ""
    if not name.strip():
        raise ImageRejected(str(_l("ファイル名がありません。画像ファイルを選んでください。")))
    if "/" in name or "\\" in name or ".." in name:
        raise ImageRejected(str(_l("ファイル名にフォルダの区切り(/ や \\)や「..」を含むファイルは受け付けません。"
                                   "ファイル名を変えてからアップロードしてください。")))
    if _CONTROL.search(name) or "\ufffd" in name:
        raise ImageRejected(str(_l("ファイル名に使えない文字(制御文字など)が含まれています。ファイル名を変えてください。")))
    if len(name) > FILENAME_MAX:
        raise ImageRejected(str(_l("ファイル名が長すぎます(%(max)d文字以内)。", max=FILENAME_MAX)))
    return name


def _declared_format(filename: str) -> str:
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    declared = EXTENSIONS.get(extension)
    if declared is None:
        raise ImageRejected(str(_l("PNG・JPEG・GIF・WebP の画像(拡張子 .png .jpg .jpeg .gif .webp)だけを"
                                   "アップロードできます。")))
    return declared


def _open_checked(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of a whole, decodable image of an allowed format; ImageRejected otherwise."""
    bomb = str(_l("画像の画素数が大きすぎます(%(max)s画素まで)。縮小してからアップロードしてください。",
                  max=f"{MAX_PIXELS:,}"))
    broken = str(_l("画像として読み取れませんでした。ファイルが壊れているか、画像ではありません。"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind, (width, height) = probe.format or "", probe.size
                if width * height > MAX_PIXELS:
                    raise ImageRejected(bomb)
                if kind not in FORMATS:
                    raise ImageRejected(str(_l("PNG・JPEG・GIF・WebP 以外の画像形式は受け付けません。")))
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:  # verify() leaves the image unusable; decode a fresh one
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(bomb) from None
    except ImageRejected:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        log.info("image upload refused: not decodable (%s)", type(exc).__name__)
        raise ImageRejected(broken) from None
    return kind, width, height


def check_image(data: bytes, filename: str | None, declared_mime: str | None, max_bytes: int) -> CheckedImage:
    """Everything about an upload that decides whether it is stored; raises ImageRejected with the reason."""
    name = check_filename(filename)
    if not data:
        raise ImageRejected(str(_l("ファイルが空です。")))
    if len(data) > max_bytes:
        raise ImageRejected(str(_l("画像が大きすぎます(%(max)s KBまで)。縮小してからアップロードしてください。",
                                   max=f"{max_bytes // 1024:,}")))
    declared = _declared_format(name)
    kind, width, height = _open_checked(data)
    if kind != declared:
        raise ImageRejected(str(_l("ファイル名の拡張子と画像の中身が一致しません(中身は %(actual)s です)。",
                                   actual=kind)))
    mime = (declared_mime or "").split(";")[0].strip().lower()
    mime = MIME_ALIASES.get(mime, mime)
    if mime not in UNSPECIFIC_MIME and mime != FORMATS[kind]:
        raise ImageRejected(str(_l("申告されたファイルの種類(%(declared)s)と画像の中身(%(actual)s)が一致しません。",
                                   declared=mime[:40], actual=FORMATS[kind])))
    return CheckedImage(data=data, sha256=hashlib.sha256(data).hexdigest(), content_type=FORMATS[kind],
                        width=width, height=height, filename=name)


def _write_once(instance_path: str, checked: CheckedImage) -> Path:
    folder = image_dir(instance_path)
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(folder, DIR_MODE)
    target = image_path(instance_path, checked.sha256)
    if target.exists() and target.stat().st_size == len(checked.data):
        return target
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(checked.data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)  # atomic: a reader never sees half a file
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def store_image(session: Session, instance_path: str, actor: Any, data: bytes, filename: str | None,
                declared_mime: str | None, max_bytes: int, ip: str | None = None) -> UploadedImage:
    """Check and keep an uploaded image; the same content uploaded again returns the existing row.
    Audited (type, size, id: never the file name). Caller commits."""
    checked = check_image(data, filename, declared_mime, max_bytes)
    _write_once(instance_path, checked)
    existing = session.scalars(sa.select(UploadedImage).where(UploadedImage.sha256 == checked.sha256)
                               .order_by(UploadedImage.id).limit(1)).first()
    if existing is not None:
        return existing
    image = UploadedImage(sha256=checked.sha256, content_type=checked.content_type, byte_size=len(checked.data),
                          width=checked.width, height=checked.height, filename=checked.filename,
                          uploaded_by_id=getattr(actor, "id", None))
    session.add(image)
    session.flush()
    audit.record(session, actor, "article.image_upload", f"uploaded_image:{image.id}",
                 {"content_type": image.content_type, "bytes": image.byte_size,
                  "width": image.width, "height": image.height}, ip)
    return image


def stored_file(instance_path: str, image: UploadedImage) -> Path | None:
    path = image_path(instance_path, image.sha256)
    return path if path.is_file() else None
