"""Password hashing (Argon2id) and the password policy.

The policy follows the Nagasaki specification (12+ characters mixing upper case,
lower case and digits, configurable) and refuses passwords that are merely a
common password dressed up with digits, symbols or look-alike letters, or that
contain the account's login.
"""

from __future__ import annotations

import contextlib
import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l

_hasher = PasswordHasher()  # argon2-cffi defaults are Argon2id (RFC 9106 low-memory profile)

# A hash of a random password: verifying against it when an account does not exist keeps
# the response time the same, so timing does not reveal which logins exist.
_DUMMY_HASH = _hasher.hash("tsunagu-no-such-account-7Qx")

_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
MAX_PASSWORD_LENGTH = 128


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        _burn_time(password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _burn_time(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _hasher.verify(_DUMMY_HASH, password)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@cache
def common_words() -> frozenset[str]:
    text = resources.files("app.auth").joinpath("data/common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _core_words(password: str) -> tuple[str, ...]:
    """What remains once case and padding are removed, with and without reading look-alikes as letters."""
    lowered = password.lower()
    # look-alikes only between the first and last letter, so padding such as "12345" is not read as "lzeas"
    inner = re.sub(r"^[^a-z]+|[^a-z]+$", "", lowered)
    return tuple(re.sub(r"[^a-z]", "", text) for text in (lowered.translate(_LEET), lowered,
                                                              inner.translate(_LEET)))


def _is_common(password: str) -> bool:
    words = common_words()
    if password.lower() in words:
        return True
    cores = _core_words(password)
    return any(core and (core in words or _is_repetition(core)) for core in cores)


def _is_repetition(core: str) -> bool:
    """'abcabcabc' or 'aaaa': a core made of one short unit repeated."""
    return any(len(core) % size == 0 and core == core[:size] * (len(core) // size) for size in range(1, 4))


def policy_errors(password: str, login: str, *, min_length: int, require_classes: bool) -> list[str]:
    """Every reason this password is refused, in the user's language; empty when it is acceptable."""
    errors: list[str] = []
    if len(password) < min_length:
        errors.append(str(_l("パスワードは%(n)d文字以上にしてください。", n=min_length)))
    if len(password) > MAX_PASSWORD_LENGTH:
        errors.append(str(_l("パスワードは%(n)d文字以内にしてください。", n=MAX_PASSWORD_LENGTH)))
    if require_classes and not (
        re.search(r"[A-Z]", password) and re.search(r"[a-z]", password) and re.search(r"[0-9]", password)
    ):
        errors.append(str(_l("パスワードには英大文字・英小文字・数字をそれぞれ1文字以上含めてください。")))
    if _contains_login(password, login):
        errors.append(str(_l("パスワードにログインID(メールアドレス)を含めないでください。")))
    if _is_common(password):
        errors.append(str(_l("よく使われていて推測されやすいパスワードです。別のパスワードにしてください。")))
    return errors


def _contains_login(password: str, login: str) -> bool:
    lowered = password.lower()
    login = login.strip().lower()
    if not login:
        return False
    local_part = login.split("@", 1)[0]
    return login in lowered or (len(local_part) >= 4 and local_part in lowered)
