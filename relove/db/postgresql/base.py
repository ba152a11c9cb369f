"""Django's PostgreSQL backend with its psycopg pool, checking only connections that sat idle.

Django's pool checks every connection it lends with a round trip to the server (``CONN_HEALTH_CHECKS``),
so that one pooled across a database restart is replaced instead of failing the first query. The
bot borrows a connection for each database part of a turn, four times a turn, and that round
trip was a fifth of the cost of borrowing. Here a connection given back less than
``DATABASE_POOL_CHECK_IDLE_SECONDS`` ago is lent without it (HikariCP's "alive bypass window"):
it answered a moment ago. One that sat longer is checked as before, and a dead one is discarded
and the next taken, until one answers or the pool makes a new one.

If the server restarts within that moment, the next part that uses such a connection fails
with ``OperationalError``, like any query during an outage: the bot gives the update back and
handles it when the database answers, a web request gets the error page once, a Celery task
retries. The pool discards a broken connection when it is given back.
"""

from __future__ import annotations

import time
import weakref

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

# When each pooled connection was last given back (weak: the pool may close it meanwhile).
_given_back: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        if not self.pool:
            return super().get_new_connection(conn_params)
        idle_limit = settings.DATABASE_POOL_CHECK_IDLE_SECONDS
        # After a restart every pooled connection may be dead: each is discarded in turn, then the
        # pool connects a new one (or raises its timeout while the server is down).
        discarded = 0
        while True:
            connection = super().get_new_connection(conn_params)
            given_back = _given_back.pop(connection, None)
            if given_back is not None and time.monotonic() - given_back < idle_limit:
                return connection
            try:
                ConnectionPool.check_connection(connection)
                return connection
            except Exception:  # whatever the check met, this connection is not lent
                connection.close()
                self.pool.putconn(connection)  # closed: the pool drops it
                discarded += 1
                if discarded > self.pool.max_size:
                    raise

    def _close(self):
        if self.pool and self.connection is not None:
            _given_back[self.connection] = time.monotonic()
        return super()._close()
