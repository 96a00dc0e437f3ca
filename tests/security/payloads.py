"""The payload classes, by the names the test ids carry (`test_attack[xss-registrant]`), and what each
must never cause in a response."""

from __future__ import annotations

import re

PAYLOADS: dict[str, tuple[str, ...]] = {
    # the last one is a real surname: a query built by string formatting breaks on it (an error is the evidence
    # the sweep can see; the first three may run silently as valid SQL)
    "sqli": ("' OR '1'='1", "1; DROP TABLE staff_user--", "1 UNION SELECT password_hash FROM staff_user--", "O'Brien"),
    "xss": ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "javascript:alert(1)"),
    "path_traversal": ("../../etc/passwd", "..%2f..%2fetc%2fpasswd"),
    "command_injection": ("; cat /etc/passwd", "$(id)", "`id`"),
    "header_injection": ("x\r\nBcc: victim@example.com", "x\r\nSet-Cookie: a=b"),
    "oversized": ("A" * 100_000,),
    "wrong_type": ("abc", "-1", "99999999999999999999"),
}
# not a string: URL and form ids of rows that belong to somebody else (see conftest.world)
OTHER_USERS_IDS = "other_users_ids"
CLASSES = (*PAYLOADS, OTHER_USERS_IDS)

# Markup that runs script if it reaches the page as markup. The escaped form ("&lt;script&gt;") is harmless.
UNESCAPED = re.compile(r"<script>alert\(1\)</script>|<img src=x onerror=alert\(1\)>"
                       r"""|(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
# What /etc/passwd or `id` look like when they leak into a response.
SYSTEM_OUTPUT = re.compile(r"root:x?:0:0:|uid=\d+\([a-z_]+\) gid=")
INJECTED_HEADERS = {"bcc"}
INJECTED_COOKIE = re.compile(r"^a=b\b")
