"""Run a build (or a repair) once per kill point, each in a forked child that SIGKILLs itself.

``python killpoints.py build|repair BASE OUTDIR``: for k = 1, 2, ... copy BASE (repair) or start
empty (build) at OUTDIR/k, fork, and in the child count every os.replace/os.rename/os.unlink and
every 500 source rows; at the k-th the child kills itself with SIGKILL (no cleanup of any kind,
like kill -9). Stops at the first k the child survives and prints that k. The parent process does
imports but never uses pyarrow before forking, so each child starts from a single-threaded process.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def child(root: Path, k: int) -> None:
    from cotforge.store.dataset import DatasetWriter
    from cotforge.store.shards import ShardLimits
    from test_store import CountingSource

    seen = [0]

    def tick():
        seen[0] += 1
        if seen[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)

    def hooked(real):
        def call(*args, **kwargs):
            tick()
            return real(*args, **kwargs)
        return call

    os.replace, os.rename, os.unlink = hooked(os.replace), hooked(os.rename), hooked(os.unlink)
    os.fsync = lambda fd: None  # durability against power loss is not what is tested; a killed process keeps its writes

    class Ticking(CountingSource):
        def rows(self, start=0, done=()):
            for row in super().rows(start, done):
                if row["idx"] % 500 == 0:
                    tick()
                yield row

    from test_store_safety import card

    w = DatasetWriter(root, name="toy", family="toy", version="1.0.0", build_config={"n": 2500}, seeds={},
                      command="cotforge toy build", limits=ShardLimits(max_rows=1000))
    w.write_split("main", "train", Ticking(2500))
    w.write_split("main", "test", Ticking(10))
    w.finish(render_card=card)


def main() -> None:
    mode, base, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # no allocator threads across fork
    import pandas  # noqa: F401  pyarrow's from_pylist imports it on first use: once here, not in every child

    import cotforge.store.dataset  # noqa: F401  imported once, used only in the children
    import test_store_safety  # noqa: F401
    k = 0
    while True:
        k += 1
        root = out / str(k) / "ds"
        if mode == "repair":
            shutil.copytree(base, root)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                child(root, k)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            print(k)
            return
        if not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL):
            raise SystemExit(f"kill point {k}: child failed with status {status}")


if __name__ == "__main__":
    main()
