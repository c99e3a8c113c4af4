"""Spawned children do not run the caller's script again unless asked to (cotforge.child_processes)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import multiprocessing as mp, os
from cotforge.child_processes import main_script_for_children
print("BODY", flush=True)
if __name__ == "__main__":
    child = mp.get_context("spawn").Process(target=os.getpid)
    with main_script_for_children({keep}):
        child.start()
    child.join(60)
    print("EXIT", child.exitcode, flush=True)
"""


@pytest.mark.parametrize("keep, bodies", [(False, 1), (True, 2)])
def test_a_spawned_child_runs_an_unguarded_script_only_when_kept(tmp_path, keep, bodies):
    # The script prints BODY at its top level, outside its guard. With keep=True the child imports
    # it as __mp_main__, so BODY prints twice (the copy's guard is False: it starts nothing); with
    # keep=False the child never imports it.
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT.format(keep=keep))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("BODY") == bodies, done.stdout + done.stderr[-2000:]
    assert "EXIT 0" in done.stdout


def test_the_main_module_is_restored_after_the_block():
    main = sys.modules["__main__"]
    before = (getattr(main, "__file__", None), getattr(main, "__spec__", None))
    from cotforge.child_processes import main_script_for_children

    with main_script_for_children(False):
        assert getattr(main, "__spec__", None) is None and getattr(main, "__file__", None) is None
    assert (getattr(main, "__file__", None), getattr(main, "__spec__", None)) == before
