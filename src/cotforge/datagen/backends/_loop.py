"""One asyncio event loop on a daemon thread, shared by every thread that calls a backend.

The openai backend used to run ``asyncio.run`` (a new loop and a new HTTP client) per ``generate``
call. When the distill engine submits prompts one call each, continuously, that meant one client
(an SSL context, fresh TCP connections) per prompt and a concurrency limit per call rather than per
backend. With one loop, the backend keeps one client and one semaphore for all callers: connections
are reused and ``max_concurrency`` bounds the requests in flight across every concurrent call.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Awaitable, Callable


class LoopThread:
    """Runs coroutines on a private event loop; ``run`` blocks the calling thread until done.

    The loop starts on first use (and again in a forked child, where the parent's thread does not
    exist). A caller interrupted while waiting (Ctrl-C) cancels its coroutine.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()
            if self._loop is None or not alive:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    @property
    def started(self) -> bool:
        return self._loop is not None and self._pid == os.getpid()

    def run(self, coro: Awaitable[Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())  # type: ignore[arg-type]
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self, cleanup: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Run ``cleanup()`` on the loop (e.g. closing an HTTP client), then stop the loop and its thread."""
        with self._lock:
            loop, thread, mine = self._loop, self._thread, self._pid == os.getpid()
            self._loop = self._thread = self._pid = None
        if loop is None or not mine or thread is None or not thread.is_alive():
            return
        if cleanup is not None:
            try:
                asyncio.run_coroutine_threadsafe(cleanup(), loop).result(timeout=10)  # type: ignore[arg-type]
            except Exception:  # closing must not fail the run that produced the data
                pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()
