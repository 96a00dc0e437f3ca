"""The password policy and Argon2id hashing (PRODUCT §5 passwords: Nagasaki specification, 12+ characters
mixing upper case, lower case and digits; no common or login-based passwords)."""

from __future__ import annotations

import pytest

from app.auth.passwords import hash_password, needs_rehash, policy_errors, verify_password

LOGIN = "tanaka.hanako@example.jp"
STRONG = "Kumamoto2026Sakurajima"


def errors(password: str, login: str = LOGIN, min_length: int = 12, require_classes: bool = True) -> list[str]:
    return policy_errors(password, login, min_length=min_length, require_classes=require_classes)


def test_a_strong_password_is_accepted():
    assert errors(STRONG) == []
    assert errors("Hakodate2027Go") == []  # 14 characters, three classes, no common word


def test_shorter_than_twelve_is_refused():
    assert errors("Kumamoto26A") and any("12" in e for e in errors("Kumamoto26A"))


@pytest.mark.parametrize("password", ["kumamoto2026sakurajima", "KUMAMOTO2026SAKURAJIMA", "KumamotoSakurajima"])
def test_upper_lower_and_digit_are_all_required(password):
    assert any("英大文字" in e for e in errors(password))


def test_character_classes_can_be_switched_off():
    assert errors("kumamoto2026sakurajima", require_classes=False) == []


@pytest.mark.parametrize("password", [
    "Password2026!", "P@ssw0rd12345", "Qwerty123456", "Password1234", "2026P@ssw0rd!!", "Dr@g0n20252026",
])
def test_common_passwords_dressed_up_are_refused(password):
    assert any("推測されやすい" in e for e in errors(password)), password


@pytest.mark.parametrize("password", ["Aaaaaaaaaaaa1", "Abcabcabcabc1", "Abababababab12", "Zzzzzzzzzzzz9"])
def test_repetition_is_refused(password):
    assert any("推測されやすい" in e for e in errors(password)), password


@pytest.mark.parametrize("password", [
    "Tanaka.hanako@example.jp1", "XTANAKA.HANAKO@EXAMPLE.JP9x", "Tanaka.Hanako2026", "MyTanaka.hanakoPass9",
])
def test_passwords_containing_the_login_or_its_local_part_are_refused(password):
    assert any("メールアドレス" in e for e in errors(password)), password


def test_a_short_local_part_alone_does_not_block_a_password():
    assert errors("Kumamoto2026Sakurajima", login="aki@example.jp") == []


def test_minimum_length_is_configurable():
    assert errors("Hakodate2027Go", min_length=16)
    assert any("16" in e for e in errors("Hakodate2027Go", min_length=16))
    assert errors("Hakodate2027Goryokaku", min_length=16) == []


def test_every_reason_is_given_at_once():
    assert len(errors("password")) >= 3  # too short, classes missing, common


def test_over_long_passwords_are_refused():
    assert any("128" in e for e in errors("Kumamoto2026" * 11))


def test_hash_is_argon2id_and_salted():
    first, second = hash_password(STRONG), hash_password(STRONG)
    assert first.startswith("$argon2id$")
    assert first != second
    assert not needs_rehash(first)


def test_verify_accepts_only_the_right_password():
    stored = hash_password(STRONG)
    assert verify_password(stored, STRONG) is True
    assert verify_password(stored, STRONG.lower()) is False
    assert verify_password(stored, "") is False


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=65536,t=3,p=4$broken"])
def test_verify_is_false_without_a_usable_hash(stored):
    assert verify_password(stored, STRONG) is False
