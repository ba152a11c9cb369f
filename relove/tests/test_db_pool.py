"""The PostgreSQL pool lends a connection given back a moment ago without a round trip, and checks
(and replaces, if dead) one that sat idle longer (``relove/db/postgresql/base.py``).

A server restart is played by ``pg_terminate_backend`` on the pooled connection's backend, from
the test's own connection: the pooled connection is dead and does not know it yet.
"""

import pytest
from django.db import OperationalError, connection
from django.db.utils import ConnectionHandler
from django.test import override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def pool_of():
    """``pool_of(n)``: a pool of its own (alias ``pool_probe``, ``n`` connections) on the test
    database, closed after the test. Once per test: Django keeps one pool per alias."""
    made = []

    def make(size: int):
        assert not made, "one pool per test"
        settings_dict = {**connection.settings_dict, "OPTIONS": {
            **connection.settings_dict["OPTIONS"], "pool": {"min_size": size, "max_size": size, "timeout": 5}}}
        wrapper = ConnectionHandler({"default": connection.settings_dict, "pool_probe": settings_dict})["pool_probe"]
        assert type(wrapper).__module__ == "relove.db.postgresql.base"
        made.append(wrapper)
        return wrapper

    yield make
    if made:
        made[0].close()
        made[0].close_pool()


@pytest.fixture
def pooled(pool_of):
    return pool_of(1)


def backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0] is True


def lend_and_give_back_dead(wrapper) -> int:
    """Borrow a connection, give it back, and kill its server process behind the pool's back."""
    pid = backend_pid(wrapper)
    wrapper.close()  # back to the pool
    terminate(pid)
    return pid


@override_settings(DATABASE_POOL_CHECK_IDLE_SECONDS=0)
def test_a_dead_idle_connection_is_checked_and_replaced_before_it_is_lent(pooled):
    dead = lend_and_give_back_dead(pooled)

    assert backend_pid(pooled) != dead  # no error: the check found it dead and the pool gave another


@override_settings(DATABASE_POOL_CHECK_IDLE_SECONDS=60)
def test_a_connection_given_back_a_moment_ago_is_lent_without_the_check(pooled):
    lend_and_give_back_dead(pooled)

    # Unchecked, so its first query meets the dead server process: the error an outage gives,
    # which the bot answers by giving the update back (bot/tests/test_database_outage.py).
    with pytest.raises(OperationalError):
        backend_pid(pooled)
    pooled.close()  # broken: the pool drops it instead of lending it again

    assert backend_pid(pooled) > 0


@override_settings(DATABASE_POOL_CHECK_IDLE_SECONDS=0)
def test_after_a_restart_every_dead_connection_is_passed_over(pool_of):
    pooled = pool_of(3)
    pooled.pool.open(wait=True)
    held = [pooled.pool.getconn() for _ in range(3)]
    dead = {conn.info.backend_pid for conn in held}
    for conn in held:
        pooled.pool.putconn(conn)
    for pid in dead:
        terminate(pid)

    assert backend_pid(pooled) not in dead
