"""Japanese text normalisation for search and duplicate detection.

「ﾔﾏﾀﾞ」, 「ヤマダ」 and 「やまだ」 must find the same person: NFKC folds half-width katakana and
full-width ASCII, katakana is folded to hiragana, case and every kind of space are dropped.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

_SPACES = re.compile(r"\s+")


def clean(value: str | None) -> str:
    """User-visible text as it should be stored: NFKC, trimmed, runs of spaces collapsed to one."""
    if value is None:
        return ""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip()


def search_key(value: str | None) -> str:
    """The form in which text is compared: NFKC, hiragana, lower case, no spaces."""
    folded = jaconv.kata2hira(unicodedata.normalize("NFKC", value or "")).lower()
    return _SPACES.sub("", folded)


def name_key(family_name: str, given_name: str) -> str:
    return search_key(family_name + given_name)


def registrant_search_text(family_name: str, given_name: str, family_kana: str, given_kana: str) -> str:
    """What the staff search matches against: the name and its reading, each normalised."""
    return f"{name_key(family_name, given_name)} {search_key(family_kana + given_kana)}"[:300]
