"""The web workers' database connections: checked before reuse only after a pause, reset once.

A logged-in page used to cost seven round trips to the database for four queries: a ping when the
connection left the pool (SQLAlchemy's pool_pre_ping), and two ROLLBACKs when it went back (the session's
own, then the pool's reset-on-return). Under load each round trip is a wake-up of the database and of the
worker on the same few CPUs.

- A connection is pinged only when it has been idle for IDLE_PING_SECONDS or more. A connection that served
  a request a moment ago is not worth a ping; a connection from before a database restart has been idle for
  at least as long as the restart took, so it is pinged and replaced, as pre-ping did.
- The pool does not roll back again: the ORM session and Core connections end their transaction (commit or
  rollback) before they give the connection back, and that is the only state the reset would undo.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

log = logging.getLogger("tsunagu.db")
IDLE_PING_SECONDS = 1.0
RETURNED_AT = "tsunagu.returned_at"

ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": False, "pool_reset_on_return": None, "pool_recycle": 3600}


def install(engine: Engine) -> None:
    """Ping connections of this engine's pool that were idle; note when each one is given back."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if not engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            log.warning("database connection was closed while idle; reconnecting")
            # the pool discards this connection and checks out (or opens) another one
            raise exc.DisconnectionError("idle connection closed by the server")
