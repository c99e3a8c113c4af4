"""Replacing a whole folder (a rescored or retried eval run): at every moment the target is the
old folder or the new one, and a replacement stopped between its renames is completed."""

import pytest

from cotforge.store import atomic


def _folder(path, text):
    path.mkdir()
    (path / "f").write_text(text)
    return path


@pytest.mark.parametrize("exchange", [True, False])
def test_the_new_folder_takes_the_place_and_nothing_is_left(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # no renameat2: two renames
    run, new = _folder(tmp_path / "run", "old"), _folder(tmp_path / ".run.x-tmp", "new")
    atomic.replace_folder(new, run)
    assert (run / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_the_exchange_is_atomic_where_the_kernel_has_it(tmp_path):
    a, b = _folder(tmp_path / "a", "A"), _folder(tmp_path / "b", "B")
    if not atomic._exchange(a, b):
        pytest.skip("no renameat2(RENAME_EXCHANGE) here")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"


def test_a_replacement_stopped_between_its_renames_is_completed(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    run, new = _folder(tmp_path / "run", "old"), _folder(tmp_path / ".run.x-tmp", "new")
    real = type(run).rename
    calls = []

    def rename(self, target):
        calls.append(self.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after the old folder moved aside, before the new one moved in
        return real(self, target)

    monkeypatch.setattr(type(run), "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        atomic.replace_folder(new, run)
    monkeypatch.setattr(type(run), "rename", real)
    assert not run.exists()
    atomic.finish_replace(new, run)
    assert (run / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    atomic.finish_replace(new, run)  # nothing to do: harmless
    assert (run / "f").read_text() == "new"
