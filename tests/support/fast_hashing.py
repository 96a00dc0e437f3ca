"""Cheap Argon2id parameters for tests that create and log in many accounts.

The real parameters cost about a quarter of a second per hash or check; tests about
permissions, headers or the CLI do not need that cost. Import the fixture into a test
module (it is autouse there); tests of the hashing itself keep the real parameters.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from app.auth import passwords


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("tsunagu-no-such-account-7Qx"))
