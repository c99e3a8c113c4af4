"""Publish a cotforge folder to the Hub as an immutable version tag.

``publish(DIR, "org/name")``: check the folder (nothing is sent when it is unfit), create the repo
if needed, read the published tags and their version history, then either

- say the content is already published (same files hash as an existing tag: nothing is sent), or
- refuse (the tag exists with other content, or is not newer than the latest tag), or
- upload the folder with ``upload_folder`` (never ``.cotforge/``; remote files the new version no
  longer has are deleted) in one commit whose ``parent_commit`` is the head read at the start, so a
  concurrent push makes this one fail instead of being overwritten, and tag that commit ``vX.Y.Z``.

The card uploaded gains a Versions section (every tag with its date, content hash, what changed and
the exact ``load_dataset(..., revision=tag)`` line), and the repo's ``versions.json`` the same
history as data. Only after the tag exists does the folder change: its card becomes the published
one, and its manifest says the version published (``--bump`` / ``--tag``), so a failed publish
leaves the folder as it was and the same command can simply be run again.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cotforge.errors import UsageError
from cotforge.hub import versions
from cotforge.hub.folder_check import CheckedFolder, FolderRefused, check_folder
from cotforge.store import atomic, layout

REPO_TYPES = ("dataset", "model")
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
NO_TOKEN = "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a token with write access)"


@dataclass
class PublishResult:
    status: str  # "published" or "unchanged"
    repo: str
    repo_type: str
    tag: str
    commit: str | None
    content_hash: str
    load_line: str
    message: str


def check_repo_id(repo: str) -> str:
    if not _REPO_RE.match(repo or ""):
        raise UsageError(f"--repo {repo!r}: expected ORG/NAME (letters, digits, '-', '_', '.')")
    return repo


def check_repo_type(repo_type: str) -> str:
    if repo_type not in REPO_TYPES:
        raise UsageError(f"--repo-type {repo_type!r}: use one of {', '.join(REPO_TYPES)}")
    return repo_type


def resolve_token(token: str | None) -> str:
    """The token from the argument, ``HF_TOKEN`` or ``hf auth login``'s file; missing is one clear line."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise UsageError(NO_TOKEN)
    return token


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level errors of whichever HTTP client this huggingface_hub uses (httpx2 from 2.x,
    httpx from 1.x, requests before)."""
    import importlib

    found = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found) or (ConnectionError,)


def hub_call(what: str, repo: str, fn: Callable[[], Any], endpoint: str) -> Any:
    """Run one Hub request; HTTP and connection failures become one line naming the request."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return fn()
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", None)
        server = (getattr(exc, "server_message", None) or "").strip().splitlines()
        detail = f": {server[0]}" if server else ""
        if status == 401:
            raise UsageError(f"{repo}: {what}: the Hub refused the token (401 Unauthorized); "
                             f"check HF_TOKEN or run `hf auth login`") from None
        if status == 403:
            raise UsageError(f"{repo}: {what}: the token has no write access (403 Forbidden){detail}") from None
        if status == 409 and what.startswith("creating tag"):
            raise UsageError(f"{repo}: {what}: the tag was created meanwhile by another publish; "
                             f"run the command again to see which content it holds") from None
        if status == 412:
            raise UsageError(f"{repo}: {what}: the branch moved since this publish read it (someone else "
                             f"pushed); nothing was overwritten: run the command again") from None
        raise UsageError(f"{repo}: {what} failed (HTTP {status}){detail}") from None
    except ValueError as exc:  # huggingface_hub's own refusals, e.g. "Invalid metadata in README.md" from the Hub
        lines = [x.strip("- ").strip() for x in str(exc).splitlines() if x.strip()]
        raise UsageError(f"{repo}: {what}: " + "; ".join(lines)) from None
    except _transport_errors() as exc:
        raise UsageError(f"{repo}: {what}: cannot reach {endpoint} ({type(exc).__name__}: {exc})") from None


class _Remote:
    """What is published already: the branch head, version tags and their content identities."""

    def __init__(self, api: Any, repo: str, repo_type: str):
        self.api, self.repo, self.repo_type = api, repo, repo_type
        refs = self._call("reading refs", lambda: api.list_repo_refs(repo, repo_type=repo_type))
        self.head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        self.tags = {t.name: t.target_commit for t in refs.tags}
        text = self.read_file(versions.HISTORY_FILE, self.head) if self.head else None
        self.history = [e for e in versions.parse_history(text, f"{repo}/{versions.HISTORY_FILE}")
                        if e["tag"] in self.tags]
        self.foreign: list[str] = []  # files of a repo that cotforge has never published to
        if self.head and text is None and not any(versions.parse_tag(t) for t in self.tags):
            files = self._call("listing files", lambda: api.list_repo_files(repo, repo_type=repo_type, revision=self.head))
            self.foreign = [f for f in files if f != ".gitattributes"]

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        return hub_call(what, self.repo, fn, self.api.endpoint)

    def read_file(self, filename: str, revision: str) -> str | None:
        """A small file of the repo at ``revision``, or None when the repo has no such file."""
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

        with tempfile.TemporaryDirectory(prefix="cotforge-publish-") as tmp:
            def fetch() -> str | None:
                try:
                    path = self.api.hf_hub_download(
                        self.repo, filename, repo_type=self.repo_type, revision=revision, cache_dir=tmp,
                    )
                except EntryNotFoundError:
                    return None
                except HfHubHTTPError as exc:
                    if getattr(exc.response, "status_code", None) == 404:
                        return None
                    raise
                return Path(path).read_text(encoding="utf-8")

            return self._call(f"reading {filename}", fetch)

    def identity(self, tag: str) -> dict[str, Any]:
        """The content identity of a published tag: from the history, else from its manifest."""
        for entry in self.history:
            if entry["tag"] == tag:
                return entry
        text = self.read_file(layout.MANIFEST, self.tags[tag])
        manifest = json.loads(text) if text else {}
        return {"tag": tag, "content_hash": manifest.get("content_hash"), "files_hash": None}


def _same_content(local: CheckedFolder, published: dict[str, Any]) -> bool:
    if published.get("files_hash"):
        return published["files_hash"] == local.files_hash
    return published.get("content_hash") is not None and published["content_hash"] == local.content_hash


def _target_version(local: CheckedFolder, tag: str | None, bump: str | None, latest_tag: str | None) -> str:
    if tag is not None:
        return tag[1:]
    if bump is not None:
        base = [v for v in (local.version, latest_tag[1:] if latest_tag else None) if v]
        start = max(base, key=versions.parse_version) if base else "0.0.0"
        return versions.bump(start, bump)
    return str(local.version)


def with_version(manifest: dict[str, Any], card: str | None, new: str) -> tuple[dict[str, Any], str | None]:
    """The folder's metadata for version ``new``: manifest version (and the build hash that includes
    it, as ``DatasetWriter`` computes it) and the card's title and version row. Nothing is written."""
    old = str(manifest["version"])
    manifest = dict(manifest, version=new)
    if {"family", "build_config", "build_hash"} <= manifest.keys():
        manifest["build_hash"] = atomic.stable_hash(
            {"family": manifest["family"], "version": new, "config": manifest["build_config"]}
        )
    if card is not None:
        card = _retitle(card, old, new).replace(f"| dataset version | {old} |", f"| dataset version | {new} |")
    return manifest, card


def _retitle(card: str, old: str, new: str) -> str:
    """``vOLD`` -> ``vNEW`` in the card's title (its first ``# `` line), as every card template writes it."""
    lines = card.split("\n")
    body = 0
    if lines and lines[0] == "---":  # skip the YAML front matter (its comments also start with "# ")
        body = next((i + 1 for i in range(1, len(lines)) if lines[i] == "---"), 0)
    for i in range(body, len(lines)):
        line = lines[i]
        if line.startswith("# "):
            lines[i] = re.sub(rf"\bv{re.escape(old)}(?![\w.])", f"v{new}", line, count=1)
            break
    return "\n".join(lines)


def _stage(local: CheckedFolder, rewritten: dict[str, str], staging: Path) -> None:
    """A view of the folder to upload: links to its files, and the rewritten ones (card, history,
    manifest) as real files, so the folder itself changes only once the version is published."""
    for rel in local.files:
        if rel in rewritten:
            continue
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink((local.root / rel).resolve(), dest)
    for rel, text in rewritten.items():
        (staging / rel).write_text(text, encoding="utf-8")


def publish(
    folder: str | Path,
    repo: str,
    *,
    repo_type: str = "dataset",
    private: bool = False,
    tag: str | None = None,
    bump: str | None = None,
    token: str | None = None,
    api: Any = None,
    today: str | None = None,
) -> PublishResult:
    """Publish ``folder`` to ``repo`` as version tag ``v<manifest version>`` (see the module docstring)."""
    check_repo_id(repo)
    check_repo_type(repo_type)
    if bump is not None and bump not in versions.BUMPS:
        raise UsageError(f"--bump {bump!r}: use one of {', '.join(versions.BUMPS)}")
    if tag is not None and bump is not None:
        raise UsageError("--tag and --bump: give one of them")
    if tag is not None and versions.parse_tag(tag) is None:
        raise UsageError(f"--tag {tag!r}: expected vX.Y.Z (e.g. v1.0.0)")
    try:
        local = check_folder(folder, repo_type)  # nothing is sent for an unfit folder
    except FolderRefused as exc:
        raise FolderRefused(f"not published: {exc}") from None
    if local.version is None and tag is None and bump is None:
        raise UsageError(f"{local.root}: no {layout.MANIFEST} version to tag: pass --tag vX.Y.Z or --bump patch|minor|major")
    token = resolve_token(token)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)

    def call(what: str, fn: Callable[[], Any]) -> Any:
        return hub_call(what, repo, fn, api.endpoint)

    call("creating the repo", lambda: api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True, token=token))
    remote = _Remote(api, repo, repo_type)
    if remote.foreign:  # a version replaces the whole tree: never wipe what someone else put there
        raise UsageError(f"{repo}: already holds files that cotforge did not publish (e.g. {remote.foreign[0]}); "
                         f"publish to a new repository")
    latest_tag = versions.latest(list(remote.tags))

    for published in sorted(remote.tags, key=lambda t: versions.parse_tag(t) or (-1, -1, -1)):
        if versions.parse_tag(published) and _same_content(local, remote.identity(published)):
            line = versions.load_line(repo, published, local.first_config, repo_type)
            return PublishResult("unchanged", repo, repo_type, published, remote.tags[published], local.content_hash,
                                 line, f"{repo}: this content is already published as {published}; nothing sent")

    version = _target_version(local, tag, bump, latest_tag)
    new_tag = versions.tag_for(version)
    if new_tag in remote.tags:
        other = remote.identity(new_tag).get("content_hash") or "unknown"
        raise UsageError(
            f"{repo}: {new_tag} already exists with other content (content hash {other[:16]}); a version is "
            f"immutable: publish with --bump patch|minor|major or rebuild with a new version"
        )
    if latest_tag and versions.parse_tag(new_tag) < versions.parse_tag(latest_tag):
        raise UsageError(f"{repo}: {new_tag} is older than the latest published {latest_tag}; "
                         f"publish with --bump patch|minor|major")

    card, manifest = local.card, local.manifest
    rewritten: dict[str, str] = {}
    if manifest is not None and str(manifest.get("version")) != version:
        manifest, card = with_version(manifest, card, version)
        rewritten[layout.MANIFEST] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"  # as atomic.write_json
    if card is None:
        card = f"# {repo}\n"
    previous = remote.history[-1]["rows"] if remote.history else None
    entry = {
        "tag": new_tag,
        "version": version,
        "date": today or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
        "content_hash": local.content_hash,
        "files_hash": local.files_hash,
        "rows": local.rows,
        "first_config": local.first_config,
        "changes": (versions.changes(previous, local.rows) if local.rows
                    else "files changed" if remote.history else "first version"),
    }
    history = remote.history + [entry]
    card = versions.with_section(card, versions.render_section(repo, history, repo_type))
    rewritten[layout.CARD] = card
    rewritten[versions.HISTORY_FILE] = versions.history_json(history)
    name = (manifest or {}).get("name") or local.root.resolve().name
    message = f"{name} {new_tag} (content {local.content_hash[:16]})"
    description = f"Published by cotforge. content_hash {local.content_hash}\nfiles_hash {local.files_hash}\n{entry['changes']}"

    with tempfile.TemporaryDirectory(prefix="cotforge-publish-") as tmp:
        _stage(local, rewritten, Path(tmp))
        info = call("uploading the folder", lambda: api.upload_folder(
            repo_id=repo, folder_path=tmp, repo_type=repo_type, commit_message=message,
            commit_description=description, parent_commit=remote.head, delete_patterns="*", token=token,
        ))
    commit = info.oid
    call(f"creating tag {new_tag}", lambda: api.create_tag(
        repo, tag=new_tag, revision=commit, repo_type=repo_type, tag_message=message, token=token,
    ))
    # only now does the folder change: it says the version it was published as, and lists the versions
    if layout.MANIFEST in rewritten:
        atomic.write_text(local.root / layout.MANIFEST, rewritten[layout.MANIFEST])
    atomic.write_text(local.root / layout.CARD, card)
    line = versions.load_line(repo, new_tag, local.first_config, repo_type)
    return PublishResult("published", repo, repo_type, new_tag, commit, local.content_hash, line,
                         f"{repo}: published {new_tag} (commit {commit[:12]}, content {local.content_hash[:16]})")
