"""olah (a read-only Hub mirror from the package index) in its own venv, serving local git repos.

The load-back half of the publishing tests: the write server stores each repo as a git repository
under ``root/{type}s/{org}/{name}``; olah's ``mirrors-path`` serves exactly that layout over the
Hub's read routes, so ``datasets.load_dataset`` can read what was published without any code of
ours on the read path.

olah is looked for at ``$COTFORGE_OLAH`` (an ``olah-cli`` path), then in the venv at
``$COTFORGE_OLAH_VENV`` (default ``/tmp/cotforge-olah-venv``, where ``.ci/run`` installs it), and
installed there with pip when missing. :func:`find_olah` returns ``(path, None)`` or
``(None, reason)`` so the test can skip saying why.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

OLAH_REQUIREMENT = "olah==0.5.4"


def find_olah(install_timeout: float = 300) -> tuple[str | None, str | None]:
    explicit = os.environ.get("COTFORGE_OLAH")
    if explicit:
        return (explicit, None) if Path(explicit).is_file() else (None, f"COTFORGE_OLAH={explicit} does not exist")
    venv = Path(os.environ.get("COTFORGE_OLAH_VENV", "/tmp/cotforge-olah-venv"))
    cli = venv / "bin" / "olah-cli"
    if cli.is_file():
        return str(cli), None
    try:
        if not (venv / "bin" / "pip").is_file():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        out = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", OLAH_REQUIREMENT],
                             capture_output=True, text=True, timeout=install_timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot create a venv for olah at {venv}: {exc}"
    if out.returncode != 0 or not cli.is_file():
        tail = (out.stderr or out.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"`pip install {OLAH_REQUIREMENT}` into {venv} failed: {tail[0]}"
    return str(cli), None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OlahMirror:
    """``with OlahMirror(cli, mirrors_root, workdir) as url:`` olah offline, serving ``mirrors_root``."""

    def __init__(self, cli: str, mirrors_root: Path, workdir: Path):
        self.cli, self.root, self.workdir = cli, Path(mirrors_root), Path(workdir)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.log = self.workdir / "olah.log"

    def __enter__(self) -> str:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "olah.toml"
        config.write_text(
            "[basic]\n"
            f'host = "127.0.0.1"\nport = {self.port}\n'
            f'mirror-netloc = "127.0.0.1:{self.port}"\nmirror-lfs-netloc = "127.0.0.1:{self.port}"\n'
            f'repos-path = "{self.workdir / "cache"}"\n'
            f'mirrors-path = ["{self.root}"]\n'
            "[accessibility]\noffline = true\n"
        )
        # its own session: olah-cli starts a uvicorn child, and the whole group is stopped together
        self.proc = subprocess.Popen([self.cli, "-c", str(config)], cwd=self.workdir, stdout=open(self.log, "wb"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pgid = self.proc.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"olah exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/whoami-v2", timeout=1)
                return self.url
            except urllib.error.HTTPError:
                return self.url  # it answers (with an error for this route): it is up
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"olah did not start within 60 s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # session leader: its pid is the group id
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                continue
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the uvicorn child may outlive its parent briefly
                try:
                    os.killpg(pgid, 0)
                except ProcessLookupError:
                    self.proc = None
                    return
                time.sleep(0.1)
        self.proc = None

    def __exit__(self, *exc) -> None:
        self.stop()
