"""Demo mail catcher: an SMTP server on 127.0.0.1 that keeps each message as an .eml file, and the
reading side for the admin page 「受信したメール(デモ)」. Never for production: it accepts anything."""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

NAME = re.compile(r"\d{8}T\d{6}-[0-9a-f]{8}\.eml")
LIST_LIMIT = 200


def prepare_dir(path: str) -> Path:
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    return directory


class SaveHandler:
    """aiosmtpd handler: each DATA becomes <UTC time>-<random>.eml (mode 600) in the catch directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.eml"
        target = self.directory / name
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(envelope.original_content or envelope.content)
        self.count += 1
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class Caught:
    name: str
    subject: str
    sender: str
    to: str
    date: str
    received: datetime


def _parse(path: Path) -> EmailMessage:
    with path.open("rb") as file:
        return email.message_from_binary_file(file, policy=email.policy.default)  # type: ignore[return-value]


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(str(message.get(name, "")).split())
    except (ValueError, TypeError):
        return ""


def list_caught(directory: str) -> list[Caught]:
    base = Path(directory)
    if not base.is_dir():
        return []
    files = sorted((p for p in base.iterdir() if NAME.fullmatch(p.name)), key=lambda p: p.name, reverse=True)
    caught = []
    for path in files[:LIST_LIMIT]:
        message = _parse(path)
        caught.append(Caught(path.name, _header(message, "Subject"), _header(message, "From"),
                             _header(message, "To"), _header(message, "Date"),
                             datetime.strptime(path.name[:15], "%Y%m%dT%H%M%S")))
    return caught


def read_caught(directory: str, name: str) -> tuple[list[tuple[str, str]], str] | None:
    """(decoded headers, text body) of one caught mail, or None for an unknown or unsafe name."""
    if not NAME.fullmatch(name or ""):
        return None
    path = Path(directory) / name
    if not path.is_file():
        return None
    message = _parse(path)
    headers = [(key, _header(message, key)) for key in dict.fromkeys(message.keys())]
    part = message.get_body(preferencelist=("plain",))
    try:
        body = part.get_content() if part is not None else ""
    except (LookupError, ValueError):
        body = ""
    return headers, str(body)
