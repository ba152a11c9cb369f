"""Run the real bot application (long polling) in a background thread, for tests."""

from __future__ import annotations

import asyncio
import threading

from bot.telegram.runtime import build_application


class PollingBot:
    """``with PollingBot(fake): fake.push_update(...); fake.wait_for_messages(...)``."""

    def __init__(self, fake):
        self.fake = fake
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        application = build_application(token=self.fake.token, base_url=self.fake.base_url)
        async with application:
            await application.start()
            await application.updater.start_polling(poll_interval=0, timeout=1)
            self._ready.set()
            await self._stop.wait()
            await application.updater.stop()
            await application.stop()

    def _main(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:  # noqa: BLE001 — surfaced to the test in __exit__
            self.error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def __enter__(self) -> PollingBot:
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self.error:
            raise RuntimeError(f"bot did not start: {self.error!r}")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop and self._stop and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        if self.error:
            raise self.error
