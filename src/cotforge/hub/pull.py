"""``cotforge pull ORG/NAME --revision TAG --out DIR``: download one version and verify it.

The snapshot is downloaded with ``snapshot_download(local_dir=DIR)``, then checked like a folder
about to be published (every shard's sha256 against the manifest, the manifest's content hash, the
card's configs against the files) and, when the repo's ``versions.json`` records the tag, the files
hash of everything downloaded against the one recorded at publishing. A download that does not
verify is an error naming the first bad file; the files stay in DIR for inspection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cotforge.errors import UsageError
from cotforge.hub import versions
from cotforge.hub.folder_check import CheckedFolder, FolderRefused, check_folder
from cotforge.hub.publish import check_repo_id, check_repo_type, hub_call


def pull(
    repo: str,
    revision: str,
    out: str | Path,
    *,
    repo_type: str = "dataset",
    token: str | None = None,
    api: Any = None,
) -> CheckedFolder:
    """Download ``repo`` at ``revision`` into ``out`` and verify it; returns the checked folder."""
    check_repo_id(repo)
    check_repo_type(repo_type)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out}: exists and is not an empty folder; choose a new one")
    if api is None:
        from huggingface_hub import HfApi, get_token

        api = HfApi(token=token or get_token())
    hub_call(f"downloading {revision}", repo, lambda: api.snapshot_download(
        repo, repo_type=repo_type, revision=revision, local_dir=str(out)), api.endpoint)
    try:
        checked = check_folder(out, repo_type)
    except FolderRefused as exc:
        raise FolderRefused(f"{repo}@{revision} does not verify: {exc}") from None
    history_path = out / versions.HISTORY_FILE
    text = history_path.read_text(encoding="utf-8") if history_path.is_file() else None
    for entry in versions.parse_history(text, str(history_path)):
        if entry["tag"] == revision and entry.get("files_hash") and entry["files_hash"] != checked.files_hash:
            raise FolderRefused(
                f"{repo}@{revision} does not verify: its files hash {checked.files_hash[:16]} differs from "
                f"the {entry['files_hash'][:16]} recorded when {revision} was published"
            )
    return checked
