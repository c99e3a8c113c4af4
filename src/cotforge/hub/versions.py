"""Published versions of a folder: semantic version tags, the history file, the card's Versions section.

A version is immutable once tagged ``vX.Y.Z`` on the Hub. The repository keeps its history in
``versions.json`` (one entry per published tag: date, commit, content hashes, rows per config/split),
and the card shows the same history as a "Versions" section between two HTML comment markers, so a
later publish replaces the section instead of appending a second one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cotforge.errors import UsageError

HISTORY_FILE = "versions.json"
SECTION_START = "<!-- cotforge:versions:start -->"
SECTION_END = "<!-- cotforge:versions:end -->"
BUMPS = ("patch", "minor", "major")

_SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_TAG_RE = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def parse_version(text: str, what: str = "version") -> tuple[int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3)``; anything else is a usage error naming ``what``."""
    m = _SEMVER_RE.match(str(text))
    if not m:
        raise UsageError(f"{what} {text!r} is not a semantic version X.Y.Z (e.g. 1.0.0)")
    return int(m[1]), int(m[2]), int(m[3])


def parse_tag(tag: str) -> tuple[int, int, int] | None:
    """``"v1.2.3"`` -> ``(1, 2, 3)``; None for a tag that is not a version tag."""
    m = _TAG_RE.match(tag)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def tag_for(version: str) -> str:
    parse_version(version)
    return f"v{version}"


def bump(version: str, part: str) -> str:
    if part not in BUMPS:
        raise UsageError(f"--bump {part!r}: use one of {', '.join(BUMPS)}")
    major, minor, patch = parse_version(version)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def latest(tags: list[str]) -> str | None:
    """The highest version tag among ``tags`` (non-version tags ignored)."""
    versions = [(parse_tag(t), t) for t in tags if parse_tag(t) is not None]
    return max(versions)[1] if versions else None


def parse_history(text: str | None, source: str = HISTORY_FILE) -> list[dict[str, Any]]:
    """The entries of a ``versions.json``; a malformed file is an error naming it (never silently reset)."""
    if text is None:
        return []
    try:
        data = json.loads(text)
        entries = data["versions"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "tag" in e for e in entries):
            raise ValueError("'versions' must be a list of objects with a 'tag'")
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{source}: malformed version history ({exc}); fix or delete it on the Hub") from None
    return entries


def history_json(entries: list[dict[str, Any]]) -> str:
    return json.dumps({"versions": entries}, indent=2, sort_keys=True) + "\n"


def changes(previous: dict[str, int] | None, current: dict[str, int]) -> str:
    """What changed between two versions' rows per ``config/split``: configs added/removed, row counts."""
    if previous is None:
        return "first version: " + ", ".join(f"{k} {n:,} rows" for k, n in sorted(current.items()))
    parts = []
    prev_configs = {k.partition("/")[0] for k in previous}
    cur_configs = {k.partition("/")[0] for k in current}
    added, removed = sorted(cur_configs - prev_configs), sorted(prev_configs - cur_configs)
    if added:
        parts.append("configs added: " + ", ".join(added))
    if removed:
        parts.append("configs removed: " + ", ".join(removed))
    for key in sorted(set(previous) | set(current)):
        before, after = previous.get(key), current.get(key)
        if before == after or key.partition("/")[0] in added or key.partition("/")[0] in removed:
            continue
        if before is None:
            parts.append(f"{key} added ({after:,} rows)")
        elif after is None:
            parts.append(f"{key} removed")
        else:
            parts.append(f"{key} {before:,} -> {after:,} rows")
    return "; ".join(parts) or "same configs and row counts; file contents changed"


def load_line(repo: str, tag: str, config: str | None, repo_type: str) -> str:
    """The exact call that loads this version (datasets) or downloads it (models)."""
    if repo_type == "model":
        return f'snapshot_download("{repo}", revision="{tag}")'
    if config is None:
        return f'load_dataset("{repo}", revision="{tag}")'
    return f'load_dataset("{repo}", "{config}", revision="{tag}")'


def render_section(repo: str, entries: list[dict[str, Any]], repo_type: str) -> str:
    """The card's Versions section, newest first, with the load line of every tag."""
    lines = [SECTION_START, "## Versions", ""]
    newest = entries[-1]
    lines += [
        f"Each version is an immutable git tag on `{repo}`. Load exactly this version with:",
        "",
        "```python",
        "from datasets import load_dataset" if repo_type != "model" else "from huggingface_hub import snapshot_download",
        load_line(repo, newest["tag"], newest.get("first_config"), repo_type),
        "```",
        "",
        "| tag | date | content hash | what changed | load |",
        "|---|---|---|---|---|",
    ]
    for e in reversed(entries):
        call = load_line(repo, e["tag"], e.get("first_config"), repo_type)
        lines.append(f"| `{e['tag']}` | {e['date']} | `{e['content_hash'][:16]}` | {e['changes']} | `{call}` |")
    lines += ["", SECTION_END, ""]
    return "\n".join(lines)


def with_section(card: str, section: str) -> str:
    """``card`` with its Versions section replaced by ``section`` (appended when it has none)."""
    start, end = card.find(SECTION_START), card.find(SECTION_END)
    if start != -1 and end > start:
        return card[:start] + section + card[end + len(SECTION_END):].lstrip("\n")
    return card.rstrip("\n") + "\n\n" + section
