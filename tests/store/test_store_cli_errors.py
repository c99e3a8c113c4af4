"""Machine trouble during a build reaches the user as one line and exit 2, and costs no finished work."""

from __future__ import annotations

import errno
import json

import pytest

from cotforge.cli import main
from cotforge.errors import environment_error_message

KK = ["kk", "build", "--people", "3", "--train", "30", "--test", "6", "--seed", "1"]


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_output_path_under_a_file_or_under_proc_is_one_line(tmp_path, capsys, where):
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    out = blocker / "ds" if where == "file" else "/proc/cotforge-test/ds"
    assert main(KK + ["--out", str(out)]) == 2
    assert str(out) in one_line(capsys)
    assert blocker.read_text() == "x"
    from cotforge.errors import UsageError
    from cotforge.store.dataset import DatasetWriter

    with pytest.raises(UsageError, match="cannot create the folder"):  # the store's own check, whoever calls it
        DatasetWriter(out, name="t", family="t", version="1.0.0", build_config={}, seeds={}, command="t")


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only"),
                                         (errno.EACCES, "Permission denied")])
def test_a_full_disk_mid_build_is_one_line_and_the_rerun_finishes_it(tmp_path, capsys, monkeypatch, code, words):
    clean = tmp_path / "clean"
    assert main(KK + ["--out", str(clean)]) == 0
    capsys.readouterr()
    import cotforge.store.shards as shards

    real = shards.os.fsync
    calls = []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) == 2:  # the first shard is in place; the disk fills while the second is written
            raise OSError(code, __import__("os").strerror(code))
        return real(fd)

    monkeypatch.setattr(shards.os, "fsync", failing_fsync)
    out = tmp_path / "ds"
    assert main(KK + ["--out", str(out)]) == 2
    err = one_line(capsys)
    assert words in err and f"{out}/.cotforge/staging/" in err  # names the shard being written
    monkeypatch.undo()
    assert main(KK + ["--out", str(out)]) == 0
    a, b = (json.loads((p / "manifest.json").read_text()) for p in (clean, out))
    assert a["content_hash"] == b["content_hash"]


def test_only_machine_errors_are_turned_into_one_line():
    assert environment_error_message(OSError(errno.ENOSPC, "No space left on device", "/x/y")) == (
        "/x/y: No space left on device (the disk is full; free some space and rerun the same command "
        "(finished shards are kept))")
    # pyarrow's form: errno set, no filename, the detail in the message
    msg = environment_error_message(OSError(28, "Error writing bytes to file. Detail: [errno 28] No space left on device"))
    assert msg.startswith("Error writing bytes to file.") and "\n" not in msg
    assert environment_error_message(OSError(errno.ECONNREFUSED, "refused")) is None
    assert environment_error_message(ValueError("bug")) is None


def test_a_binary_file_read_as_text_anywhere_is_one_line(tmp_path, capsys, monkeypatch):
    """The fallback for readers that do not name the file themselves (cotforge.cli.main)."""
    import cotforge.store.query as query

    blob = tmp_path / "replay.jsonl"
    blob.write_bytes(b"\xff\xfe\x00\x01binary")

    def read_as_text(*a, **k):
        return blob.read_text(encoding="utf-8")

    monkeypatch.setattr(query, "run_query", read_as_text)
    assert main(["query", str(tmp_path), "SELECT 1"]) == 2
    assert "not UTF-8 text" in one_line(capsys)
