"""Child processes (spawn, forkserver) that never run the caller's script again.

Used by the verifier pool's workers and the vLLM data-parallel workers.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator

_MAIN_LOCK = threading.RLock()  # re-entrant: a start inside another start must not deadlock


def needs_main_module(blob: bytes) -> bool:
    """Whether a pickle may refer to the main script (a verifier class defined in it, say).

    A conservative byte scan: any "__main__" in the pickle counts, so a string that merely holds
    those letters only costs a worker that imports the main script, never a failed unpickle."""
    return b"__main__" in blob


@contextlib.contextmanager
def main_script_for_children(keep: bool) -> Iterator[None]:
    """Decide whether child processes started inside this block import the parent's main script.

    ``spawn`` and ``forkserver`` children run the parent's main module again (as ``__mp_main__``)
    so that objects pickled from ``__main__`` resolve. That runs every top-level statement of a
    script without an ``if __name__ == "__main__":`` guard once more in every child: its prints,
    its file writes, a whole eval run into the same folder (which left the parent waiting on
    workers busy with the copy). So by default (``keep=False``) the main module is hidden from
    the child - ``__file__`` and ``__spec__`` are what multiprocessing reads - and a child never
    runs the caller's script. Only when what the child is sent refers to ``__main__``
    (:func:`needs_main_module`; the verifier pool checks its verifiers' pickles) is it kept,
    and then, as multiprocessing requires, the script must guard its entry point. A path that
    does not exist (``python - <<EOF``: ``<stdin>``) is hidden either way: every child would die
    importing it.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    # One start at a time reads and changes the main module, so a start that keeps it never
    # sees it half hidden by another thread's start.
    with _MAIN_LOCK:
        path = getattr(main, "__file__", None)
        spec = getattr(main, "__spec__", None)
        if keep:
            base = multiprocessing.process.ORIGINAL_DIR or os.getcwd()
            missing = isinstance(path, str) and spec is None and not os.path.exists(
                path if os.path.isabs(path) else os.path.join(base, path))
            if not missing:
                yield
                return
        if path is None and spec is None:
            yield
            return
        had_file = hasattr(main, "__file__")
        if had_file:
            del main.__file__
        main.__spec__ = None
        try:
            yield
        finally:
            if had_file:
                main.__file__ = path
            main.__spec__ = spec
