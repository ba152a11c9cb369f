"""Real concurrency for race tests: the same work in several threads, started together."""

import threading

from django.db import connection


def in_threads(count: int, work):
    """Run ``work()`` in ``count`` threads released at once; returns their results (any order).

    Each thread closes its own database connection; an exception in any thread is re-raised here.
    """
    barrier, results, errors = threading.Barrier(count), [], []

    def run():
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:  # noqa: BLE001 — re-raised in the test thread below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
