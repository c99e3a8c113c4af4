"""A local stand-in for the Hub's write API, for tests: standard-library HTTP on 127.0.0.1.

It speaks the routes that ``huggingface_hub.HfApi`` sends when publishing (checked against the
installed client's ``hf_api.py`` / ``_commit_api.py``):

- ``POST /api/repos/create``                   200 ``{url}``; 409 ``{url, error}`` when it exists
- ``POST /api/validate-yaml``                  the card's YAML front matter must parse (400 ``{errors}``)
- ``POST /api/{type}s/{repo}/preupload/{rev}`` every file ``uploadMode: "regular"`` (inline in the
  commit), with the ``oid`` of the file already at ``rev`` so the client skips unchanged files
- ``POST /api/{type}s/{repo}/commit/{rev}``    NDJSON: header (``summary``, ``description``,
  ``parentCommit``: 412 when the branch moved) then ``file`` / ``deletedFile`` / ``deletedFolder``
  lines (``lfsFile``: 422, this server has no LFS store)
- ``POST /api/{type}s/{repo}/tag/{rev}``       annotated tag; 409 when the tag exists
- ``GET  /api/{type}s/{repo}/refs``, ``/api/{type}s/{repo}[/revision/{rev}]``, ``/tree/{rev}/{path}``
- ``GET|HEAD /[datasets/]{repo}/resolve/{rev}/{path}``  (what ``hf_hub_download`` reads)

Each repo is a real bare git repository under ``root/{type}s/{org}/{name}`` (the layout olah's
``mirrors-path`` serves), created with a ``.gitattributes`` commit as the Hub does. Tokens: an
unknown token is 401 everywhere; no token may read but not write (401); a ``read`` token gets 403
on writes. Every request is appended to ``requests`` so tests can assert the protocol.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
_API_RE = re.compile(r"^/api/(datasets|models)/([^/]+)/([^/]+)(?:/(preupload|commit|tag|refs|revision|tree)(?:/([^/]+)(/.*)?)?)?$")
_RESOLVE_RE = re.compile(r"^/(?:(datasets)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$")


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class GitRepo:
    """One bare repository, written through git plumbing (no work tree)."""

    def __init__(self, path: Path):
        self.path = path

    def git(self, *args: str, input: bytes | None = None, env: dict | None = None) -> bytes:
        full_env = {**os.environ, "GIT_DIR": str(self.path), "GIT_AUTHOR_NAME": "hub", "GIT_AUTHOR_EMAIL": "hub@localhost",
                    "GIT_COMMITTER_NAME": "hub", "GIT_COMMITTER_EMAIL": "hub@localhost", **(env or {})}
        out = subprocess.run(["git", *args], input=input, capture_output=True, env=full_env)
        if out.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {out.stderr.decode(errors='replace')}")
        return out.stdout

    def resolve(self, rev: str) -> str | None:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], capture_output=True,
                             env={**os.environ, "GIT_DIR": str(self.path)})
        return out.stdout.decode().strip() or None if out.returncode == 0 else None

    def head(self) -> str | None:
        return self.resolve("refs/heads/main")

    def files(self, commit: str) -> dict[str, tuple[str, int]]:
        """path -> (blob oid, size) of every file at ``commit``."""
        out = {}
        for line in self.git("ls-tree", "-r", "-l", "--full-tree", "-z", commit).split(b"\0"):
            if not line:
                continue
            meta, path = line.decode().split("\t", 1)
            _mode, _type, oid, size = meta.split()
            out[path] = (oid, int(size))
        return out

    def commit(self, parent: str | None, adds: dict[str, bytes], deletes: list[str], message: str) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self.git("read-tree", parent, env=env)
            # one hash-object and one update-index for the whole commit (git per file is slow)
            blobs = []
            for i, content in enumerate(adds.values()):
                (Path(tmp) / f"blob{i}").write_bytes(content)
                blobs.append(str(Path(tmp) / f"blob{i}"))
            oids = self.git("hash-object", "-w", "--stdin-paths", input="\n".join(blobs).encode()).decode().split() if blobs else []
            # mode 0 removes an entry (--force-remove would want a work tree)
            lines = [f"0 {'0' * 40}\t{path}" for path in deletes]
            lines += [f"100644 {oid}\t{path}" for path, oid in zip(adds, oids)]
            if lines:
                self.git("update-index", "--index-info", input=("\n".join(lines) + "\n").encode(), env=env)
            tree = self.git("write-tree", env=env).decode().strip()
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        new = self.git(*args).decode().strip()
        # compare-and-swap: fails when main moved since ``parent`` was read
        swap = subprocess.run(["git", "update-ref", "refs/heads/main", new, parent or "0" * 40],
                              capture_output=True, env={**os.environ, "GIT_DIR": str(self.path)})
        if swap.returncode != 0:
            raise HubError(412, "A commit has happened since the parent commit; refusing to overwrite it")
        return new


class HubState:
    def __init__(self, root: Path, tokens: dict[str, str]):
        self.root, self.tokens = root, tokens
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def repo(self, kind: str, org: str, name: str, must_exist: bool = True) -> GitRepo:
        path = self.root / kind / org / name
        if must_exist and not path.is_dir():
            raise HubError(404, f"Repository {org}/{name} not found", "RepoNotFound")
        return GitRepo(path)


class Handler(BaseHTTPRequestHandler):
    server_version = "cotforge-test-hub"
    state: HubState

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: Any = None, headers: dict | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _auth(self, write: bool) -> None:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        if token is not None and token not in self.state.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        if write and token is None:
            raise HubError(401, "You must be authenticated to do this")
        if write and self.state.tokens.get(token) != "write":
            raise HubError(403, "You don't have the rights to write to this repository")

    def _handle(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        record = {"method": self.command, "path": url.path, "query": parse_qs(url.query)}
        with self.state.lock:
            self.state.requests.append(record)
        try:
            status, payload, headers, raw = self._route(url.path, parse_qs(url.query), body, record)
        except Exception as exc:  # a bug here must reach the client as a 500, not a dropped connection
            if not isinstance(exc, HubError):
                exc = HubError(500, f"test server error: {type(exc).__name__}: {exc}")
            headers = {"X-Error-Message": " ".join(exc.message.split())[:500]}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            record["status"] = exc.status
            self._send(exc.status, {"error": exc.message, **exc.extra}, headers)
            return
        record["status"] = status
        self._send(status, payload, headers, raw)

    do_GET = do_POST = do_HEAD = _handle

    # ------------------------------------------------------------------ routes
    def _route(self, path: str, query: dict, body: bytes, record: dict):
        if path == "/api/repos/create" and self.command == "POST":
            return self._create(json.loads(body), record)
        if path == "/api/validate-yaml" and self.command == "POST":
            self._auth(write=False)
            return self._validate_yaml(json.loads(body))
        m = _RESOLVE_RE.match(path)
        if m and self.command in ("GET", "HEAD"):
            self._auth(write=False)
            kind = "datasets" if m[1] else "models"
            return self._resolve(kind, m[2], m[3], unquote(m[4]), unquote(m[5]))
        m = _API_RE.match(path)
        if not m:
            raise HubError(404, f"no route {self.command} {path}")
        kind, org, name, action, rev, rest = m.groups()
        rev = unquote(rev) if rev else None
        repo = self.state.repo(kind, org, name)
        if action in ("preupload", "commit", "tag"):
            self._auth(write=True)
        else:
            self._auth(write=False)
        if action == "preupload":
            return self._preupload(repo, rev, json.loads(body), record)
        if action == "commit":
            return self._commit(repo, kind, org, name, rev, body, record)
        if action == "tag":
            return self._tag(repo, rev, json.loads(body), record)
        if action == "refs":
            return self._refs(repo)
        if action == "tree":
            return self._tree(repo, rev, (unquote(rest) if rest else "").strip("/"), query)
        return self._info(repo, org, name, rev or "main")

    def _create(self, data: dict, record: dict):
        self._auth(write=True)
        kind = (data.get("type") or "model") + "s"
        org, name = data.get("organization"), data["name"]
        record["json"] = data
        repo = self.state.repo(kind, org, name, must_exist=False)
        prefix = "" if kind == "models" else f"{kind}/"
        url = f"http://{self.headers['Host']}/{prefix}{org}/{name}"
        with self.state.lock:
            if repo.path.exists():
                raise HubError(409, "You already created this repo", extra={"url": url})
            repo.path.mkdir(parents=True)
            subprocess.run(["git", "init", "--bare", "-q", "-b", "main", str(repo.path)], check=True)
            repo.commit(None, {".gitattributes": GITATTRIBUTES}, [], "initial commit")
        return 200, {"url": url, "name": f"{org}/{name}"}, None, None

    def _validate_yaml(self, data: dict):
        content = data.get("content", "")
        if content.startswith("---"):
            end = content.find("\n---", 3)
            try:
                if end == -1:
                    raise yaml.YAMLError("front matter is not closed")
                meta = yaml.safe_load(content[3:end])
                if meta is not None and not isinstance(meta, dict):
                    raise yaml.YAMLError("front matter is not a mapping")
            except yaml.YAMLError as exc:
                raise HubError(400, "Invalid metadata", extra={"errors": [{"message": str(exc)}]})
        return 200, {"errors": [], "warnings": []}, None, None

    def _preupload(self, repo: GitRepo, rev: str, data: dict, record: dict):
        commit = repo.resolve(rev)
        existing = repo.files(commit) if commit else {}
        record["files"] = [f["path"] for f in data["files"]]
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                  "oid": existing.get(f["path"], (None,))[0]} for f in data["files"]]
        return 200, {"files": files, "commitOid": commit}, None, None

    def _commit(self, repo: GitRepo, kind: str, org: str, name: str, rev: str, body: bytes, record: dict):
        if rev != "main":
            raise HubError(400, "this test server commits to main only")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"]
        adds: dict[str, bytes] = {}
        deletes: list[str] = []
        with self.state.lock:
            parent = repo.head()
            if header.get("parentCommit") and header["parentCommit"] != parent:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            current = repo.files(parent) if parent else {}
            for item in lines[1:]:
                value = item["value"]
                if item["key"] == "file":
                    adds[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] == "deletedFile":
                    deletes.append(value["path"])
                elif item["key"] == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    deletes += [p for p in current if p.startswith(prefix)]
                else:
                    raise HubError(422, f"{item['key']}: this test server stores regular files only (no LFS)")
            record["commit"] = {"header": header, "added": sorted(adds), "deleted": sorted(deletes)}
            message = header["summary"] + ("\n\n" + header["description"] if header.get("description") else "")
            oid = repo.commit(parent, adds, deletes, message)
        prefix = "" if kind == "models" else f"{kind}/"
        return 200, {"success": True, "commitOid": oid,
                     "commitUrl": f"http://{self.headers['Host']}/{prefix}{org}/{name}/commit/{oid}"}, None, None

    def _tag(self, repo: GitRepo, rev: str, data: dict, record: dict):
        record["json"] = data
        with self.state.lock:
            commit = repo.resolve(rev)
            if commit is None:
                raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            if repo.resolve(f"refs/tags/{data['tag']}"):
                raise HubError(409, f"Tag {data['tag']} already exists")
            repo.git("tag", "-a", data["tag"], "-m", data.get("message") or data["tag"], commit)
        return 200, {}, None, None

    def _refs(self, repo: GitRepo):
        out = {"branches": [], "tags": [], "converts": [], "pullRequests": []}
        fmt = "%(refname)%09%(objectname)%09%(*objectname)"
        for line in repo.git("for-each-ref", f"--format={fmt}").decode().splitlines():
            ref, obj, peeled = line.split("\t")
            group = "branches" if ref.startswith("refs/heads/") else "tags" if ref.startswith("refs/tags/") else None
            if group:
                out[group].append({"name": ref.split("/", 2)[2], "ref": ref, "targetCommit": peeled or obj})
        return 200, out, None, None

    def _info(self, repo: GitRepo, org: str, name: str, rev: str):
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        siblings = [{"rfilename": p} for p in sorted(repo.files(commit))]
        return 200, {"id": f"{org}/{name}", "sha": commit, "private": False, "siblings": siblings,
                     "tags": [], "downloads": 0, "likes": 0}, None, None

    def _tree(self, repo: GitRepo, rev: str, sub: str, query: dict):
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        recursive = query.get("recursive", ["False"])[0].lower() in ("1", "true")
        entries, dirs = [], set()
        for path, (oid, size) in sorted(repo.files(commit).items()):
            if sub and not path.startswith(sub + "/"):
                continue
            rel_parts = path[len(sub) + 1 if sub else 0:].split("/")
            if not recursive and len(rel_parts) > 1:
                dirs.add("/".join(filter(None, [sub, rel_parts[0]])))
                continue
            if recursive:
                parts = path.split("/")
                dirs.update("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]).startswith(sub))
            entries.append({"type": "file", "oid": oid, "size": size, "path": path})
        entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs) if d != sub]
        return 200, entries, None, None

    def _resolve(self, kind: str, org: str, name: str, rev: str, path: str):
        repo = self.state.repo(kind, org, name)
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        entry = repo.files(commit).get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", extra={})
        data = repo.git("cat-file", "blob", entry[0])
        return 200, None, {"X-Repo-Commit": commit, "ETag": f'"{entry[0]}"'}, data


class HubServer:
    """Runs the handler on a free 127.0.0.1 port in a thread; ``with HubServer(root) as hub:``."""

    def __init__(self, root: str | Path, tokens: dict[str, str] | None = None):
        self.state = HubState(Path(root), tokens or {"write-token": "write", "read-token": "read"})
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    def writes(self) -> list[dict[str, Any]]:
        """Requests that change state (anything but reads and the YAML check)."""
        return [r for r in self.requests if r["method"] == "POST" and r["path"] != "/api/validate-yaml"]

    def git_dir(self, repo: str, kind: str = "datasets") -> Path:
        return self.state.root / kind / repo

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
