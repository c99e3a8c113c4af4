"""``cotforge publish`` / ``pull`` against the local write server: protocol, idempotence, immutability, auth."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from .hub_folders import WRITE_TOKEN, build_folder

from cotforge.cli import main
from cotforge.errors import UsageError
from cotforge.hub.publish import publish
from cotforge.hub.pull import pull

REPO = "org/toy"


def _git(hub, *args: str, kind: str = "datasets", repo: str = REPO) -> str:
    return subprocess.run(["git", "--git-dir", str(hub.git_dir(repo, kind)), *args], capture_output=True,
                          text=True, check=True).stdout


def _writes_since(hub, mark: int) -> list[tuple[str, str]]:
    return [(r["method"], r["path"].rsplit("/", 2)[-2] if "/api/datasets/" in r["path"] or "/api/models/" in r["path"]
             else r["path"]) for r in hub.requests[mark:] if r["method"] == "POST" and r["path"] != "/api/validate-yaml"]


def test_first_publish_speaks_the_hub_protocol_and_tags_the_commit(tmp_path, hub, api):
    folder = build_folder(tmp_path / "ds", {"main/train": 7, "main/test": 3})
    (folder / "notes.txt").write_text("kept")
    (folder / ".cache/huggingface").mkdir(parents=True)
    (folder / ".cache/huggingface/download.lock").write_text("local state")
    result = publish(folder, REPO, api=api, today="2026-01-02")

    assert result.status == "published" and result.tag == "v1.0.0"
    assert result.load_line == 'load_dataset("org/toy", "main", revision="v1.0.0")'
    writes = [r for r in hub.requests if r["method"] == "POST" and r["path"] != "/api/validate-yaml"]
    assert [r["path"] for r in writes] == [
        "/api/repos/create", "/api/datasets/org/toy/preupload/main", "/api/datasets/org/toy/commit/main",
        f"/api/datasets/org/toy/tag/{result.commit}",
    ]
    # the card's YAML is validated before anything is uploaded
    first_validate = next(i for i, r in enumerate(hub.requests) if r["path"] == "/api/validate-yaml")
    assert first_validate < hub.requests.index(writes[1])
    commit = writes[2]["commit"]
    initial = _git(hub, "rev-list", "--max-parents=0", "main").strip()
    assert commit["header"]["parentCommit"] == initial  # the head read at the start: no silent overwrite
    assert "toy" in commit["header"]["summary"] and "v1.0.0" in commit["header"]["summary"]
    assert result.content_hash[:16] in commit["header"]["summary"]
    assert not [p for p in commit["added"] if p.startswith((".cotforge", ".cache", ".git/"))]
    assert {"README.md", "manifest.json", "versions.json", "notes.txt"} <= set(commit["added"])
    assert writes[3]["json"]["tag"] == "v1.0.0"
    # the tag is a real git tag on that commit, holding the manifest of this version
    assert _git(hub, "rev-parse", "v1.0.0^{commit}").strip() == result.commit
    assert json.loads(_git(hub, "show", "v1.0.0:manifest.json"))["version"] == "1.0.0"
    card = _git(hub, "show", "v1.0.0:README.md")
    assert "## Versions" in card and "| `v1.0.0` | 2026-01-02 |" in card
    assert 'load_dataset("org/toy", "main", revision="v1.0.0")' in card
    assert "first version: main/test 3 rows, main/train 7 rows" in card
    assert (folder / "README.md").read_text() == card  # the folder now documents what was published


def test_publishing_the_same_content_again_sends_nothing(tmp_path, hub, api):
    folder = build_folder(tmp_path / "ds", {"main/train": 5})
    publish(folder, REPO, api=api)
    mark = len(hub.requests)
    again = publish(folder, REPO, api=api)
    assert again.status == "unchanged" and again.tag == "v1.0.0"
    assert "already published as v1.0.0" in again.message and "nothing sent" in again.message
    assert _writes_since(hub, mark) == [("POST", "/api/repos/create")]  # the 409 of exist_ok, nothing else
    assert _git(hub, "tag").split() == ["v1.0.0"]


def test_new_content_same_version_is_refused_then_bumped(tmp_path, hub, api):
    publish(build_folder(tmp_path / "v1", {"main/train": 5, "old/train": 1}), REPO, api=api)
    changed = build_folder(tmp_path / "v2", {"main/train": 6, "extra/train": 2})  # still version 1.0.0
    mark = len(hub.requests)
    with pytest.raises(UsageError, match=r"v1\.0\.0 already exists with other content.*immutable.*--bump"):
        publish(changed, REPO, api=api)
    assert [p for _, p in _writes_since(hub, mark)] == ["/api/repos/create"]
    assert json.loads((changed / "manifest.json").read_text())["version"] == "1.0.0"  # refused: untouched

    result = publish(changed, REPO, api=api, bump="minor")
    assert result.tag == "v1.1.0"
    manifest = json.loads((changed / "manifest.json").read_text())
    assert manifest["version"] == "1.1.0"
    card = (changed / "README.md").read_text()
    assert "# toy (v1.1.0)" in card and "| dataset version | 1.1.0 |" in card
    assert "configs added: extra; configs removed: old; main/train 5 -> 6 rows" in card
    assert card.index("| `v1.1.0`") < card.index("| `v1.0.0`")  # newest first, both listed
    assert card.count("## Versions") == 1
    history = json.loads(_git(hub, "show", "v1.1.0:versions.json"))["versions"]
    assert [e["tag"] for e in history] == ["v1.0.0", "v1.1.0"]
    assert sorted(_git(hub, "tag").split()) == ["v1.0.0", "v1.1.0"]
    # v1.0.0 still holds the old files; the new version's tree no longer has what it dropped
    old_shard = "data/old/train-00000-of-00001.parquet"
    assert old_shard in _git(hub, "ls-tree", "-r", "--name-only", "v1.0.0")
    assert old_shard not in _git(hub, "ls-tree", "-r", "--name-only", "v1.1.0")
    assert "data/extra/train-00000-of-00001.parquet" in _git(hub, "ls-tree", "-r", "--name-only", "v1.1.0")


def test_bump_patch_minor_major_and_explicit_tag(tmp_path, hub, api):
    publish(build_folder(tmp_path / "a", {"main/train": 1}), REPO, api=api)
    assert publish(build_folder(tmp_path / "b", {"main/train": 2}), REPO, api=api, bump="patch").tag == "v1.0.1"
    assert publish(build_folder(tmp_path / "c", {"main/train": 3}), REPO, api=api, bump="minor").tag == "v1.1.0"
    assert publish(build_folder(tmp_path / "d", {"main/train": 4}), REPO, api=api, bump="major").tag == "v2.0.0"
    assert publish(build_folder(tmp_path / "e", {"main/train": 5}), REPO, api=api, tag="v2.3.0").tag == "v2.3.0"
    with pytest.raises(UsageError, match=r"v2\.1\.0 is older than the latest published v2\.3\.0"):
        publish(build_folder(tmp_path / "f", {"main/train": 6}), REPO, api=api, tag="v2.1.0")
    with pytest.raises(UsageError, match="--bump 'huge'"):
        publish(build_folder(tmp_path / "g", {"main/train": 7}), REPO, api=api, bump="huge")
    with pytest.raises(UsageError, match="--tag '2.4.0': expected vX.Y.Z"):
        publish(build_folder(tmp_path / "h", {"main/train": 8}), REPO, api=api, tag="2.4.0")


@pytest.mark.parametrize("damage, reason", [
    ("shard", r"sha256 differs from manifest\.json"),
    ("journal", r"\.cotforge/ is present: the build has not finished"),
    ("stray", r"a data file that manifest\.json does not list"),
    ("card", r"YAML configs do not match the data files \(missing main/test: data/main/test-00000-of-00001"),
    ("card_nothing", r"main/extra: data/main/extra-\*\.parquet matches no file"),
    ("card_unlisted", r"data/main/\* reads data/main/notes\.txt, which manifest\.json does not list"),
    ("content_hash", r"content_hash does not match its shards"),
    ("yaml", r"YAML front matter does not parse"),
    ("no_manifest", r"no manifest\.json"),
])
def test_an_unfit_folder_is_refused_before_anything_is_sent(tmp_path, hub, api, damage, reason):
    folder = build_folder(tmp_path / "ds", {"main/train": 4, "main/test": 2})
    shard = folder / "data/main/train-00000-of-00001.parquet"
    manifest = json.loads((folder / "manifest.json").read_text())
    if damage == "shard":
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 1
        shard.write_bytes(bytes(data))
    elif damage == "journal":
        (folder / ".cotforge").mkdir()
        (folder / ".cotforge/journal.json").write_text("{}")
    elif damage == "stray":
        shutil.copy(shard, folder / "data/main/train-00001-of-00002.parquet")
    elif damage == "card":
        card = (folder / "README.md").read_text()
        (folder / "README.md").write_text(card.replace("  - split: test\n    path: data/main/test-*.parquet\n", ""))
    elif damage == "card_nothing":
        card = (folder / "README.md").read_text()
        (folder / "README.md").write_text(card.replace(
            "    path: data/main/test-*.parquet\n",
            "    path: data/main/test-*.parquet\n  - split: extra\n    path: data/main/extra-*.parquet\n"))
    elif damage == "card_unlisted":
        (folder / "data/main/notes.txt").write_text("not a shard")
        card = (folder / "README.md").read_text()
        (folder / "README.md").write_text(card.replace("path: data/main/test-*.parquet", "path: data/main/*"))
    elif damage == "content_hash":
        manifest["content_hash"] = "0" * 64
        (folder / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "yaml":
        (folder / "README.md").write_text("---\nconfigs: [unclosed\n---\n# toy\n")
    elif damage == "no_manifest":
        (folder / "manifest.json").unlink()
    with pytest.raises(UsageError, match=reason) as err:
        publish(folder, REPO, api=api)
    assert str(err.value).startswith("not published: ")
    assert hub.requests == []  # nothing at all reached the server


def test_a_concurrent_push_makes_publish_fail_instead_of_overwriting(tmp_path, hub, api):
    publish(build_folder(tmp_path / "a", {"main/train": 1}), REPO, api=api)
    real_upload = api.upload_folder

    def racing_upload(**kwargs):  # someone else pushes between our read of the head and our commit
        api.upload_file(path_or_fileobj=b"theirs", path_in_repo="theirs.txt", repo_id=REPO, repo_type="dataset")
        return real_upload(**kwargs)

    api.upload_folder = racing_upload
    folder = build_folder(tmp_path / "b", {"main/train": 2})
    card = (folder / "README.md").read_text()
    with pytest.raises(UsageError, match="the branch moved since this publish read it"):
        publish(folder, REPO, api=api, bump="patch")
    assert _git(hub, "tag").split() == ["v1.0.0"]
    assert "theirs.txt" in _git(hub, "ls-tree", "--name-only", "main")
    # the failed publish left the folder as it was, so the same command gives the same version
    assert json.loads((folder / "manifest.json").read_text())["version"] == "1.0.0"
    assert (folder / "README.md").read_text() == card
    api.upload_folder = real_upload
    assert publish(folder, REPO, api=api, bump="patch").tag == "v1.0.1"


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_env(hub, monkeypatch, tmp_path):
    """The CLI's own HfApi() pointed at the server (as HF_ENDPOINT would), with no stored token."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-such-token"))
    return hub


def test_cli_publish_prints_the_result_and_the_load_line(tmp_path, cli_env, capsys):
    folder = build_folder(tmp_path / "ds", {"main/train": 3})
    code, out, err = _cli(capsys, "publish", str(folder), "--repo", REPO)
    assert code == 0, err
    assert out.splitlines()[0].startswith("org/toy: published v1.0.0 (commit ")
    assert out.splitlines()[1] == 'load_dataset("org/toy", "main", revision="v1.0.0")'


@pytest.mark.parametrize("token, expected", [
    (None, "error: no Hugging Face token: set HF_TOKEN or run `hf auth login`"),
    ("bad-token", "error: org/toy: creating the repo: the Hub refused the token (401 Unauthorized)"),
    ("read-token", "error: org/toy: creating the repo: the token has no write access (403 Forbidden)"),
])
def test_auth_failures_are_one_clear_line(tmp_path, cli_env, capsys, monkeypatch, token, expected):
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)
    folder = build_folder(tmp_path / "ds", {"main/train": 3})
    code, out, err = _cli(capsys, "publish", str(folder), "--repo", REPO)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith(expected), err
    assert not [r for r in cli_env.requests if r.get("status") == 200 and r["method"] == "POST"]
    if token is None:
        assert cli_env.requests == []


def test_cli_usage_errors_name_the_argument(tmp_path, cli_env, capsys):
    folder = build_folder(tmp_path / "ds", {"main/train": 3})
    assert _cli(capsys, "publish", str(folder), "--repo", "no-slash")[2].startswith("error: --repo 'no-slash'")
    assert _cli(capsys, "publish", str(folder), "--repo", REPO, "--repo-type", "space")[2].startswith(
        "error: --repo-type 'space'")
    assert _cli(capsys, "publish", str(tmp_path / "missing"), "--repo", REPO)[2].startswith("error: ")
    assert cli_env.requests == []


def test_pull_downloads_a_tag_and_verifies_it(tmp_path, hub, api, cli_env, capsys):
    v1 = build_folder(tmp_path / "v1", {"main/train": 4})
    publish(v1, REPO, api=api)
    publish(build_folder(tmp_path / "v2", {"main/train": 9}), REPO, api=api, bump="minor")
    checked = pull(REPO, "v1.0.0", tmp_path / "out", api=api)
    assert checked.rows == {"main/train": 4} and checked.version == "1.0.0"
    assert (tmp_path / "out/data/main/train-00000-of-00001.parquet").read_bytes() == \
        (v1 / "data/main/train-00000-of-00001.parquet").read_bytes()
    code, out, err = _cli(capsys, "pull", REPO, "--revision", "v1.1.0", "--out", str(tmp_path / "out2"))
    assert code == 0 and "verified" in out, err
    with pytest.raises(UsageError, match="exists and is not an empty folder"):
        pull(REPO, "v1.0.0", tmp_path / "out", api=api)


def test_pull_refuses_a_download_whose_shards_do_not_match_the_manifest(tmp_path, hub, api):
    from .hub_server import GitRepo

    publish(build_folder(tmp_path / "v1", {"main/train": 4}), REPO, api=api)
    # corrupt the tagged content behind the client's back (a broken mirror, a rewritten tag)
    repo = GitRepo(hub.git_dir(REPO))
    bad = repo.commit(repo.head(), {"data/main/train-00000-of-00001.parquet": b"not parquet"}, [], "corrupt")
    repo.git("tag", "-f", "v1.0.0", bad)
    with pytest.raises(UsageError, match=r"org/toy@v1\.0\.0 does not verify: .*train-00000-of-00001\.parquet: sha256 differs"):
        pull(REPO, "v1.0.0", tmp_path / "out", api=api)


def test_extra_files_are_content_an_eval_run_with_new_results_needs_a_new_version(tmp_path, hub, api):
    run = build_folder(tmp_path / "run", {"math500/test": 5})
    (run / "results.json").write_text(json.dumps({"accuracy": 0.4}))
    publish(run, REPO, api=api)
    (run / "results.json").write_text(json.dumps({"accuracy": 0.6}))  # rescored: same shards, new results
    with pytest.raises(UsageError, match="already exists with other content"):
        publish(run, REPO, api=api)
    assert publish(run, REPO, api=api, bump="patch").tag == "v1.0.1"
    assert json.loads(_git(hub, "show", "v1.0.1:results.json")) == {"accuracy": 0.6}


def test_kk_folder_publishes_and_its_card_title_follows_the_bump(tmp_path, hub, api):
    from cotforge.datagen.kk.build import KKBuildConfig, build_kk

    build_kk(tmp_path / "kk", KKBuildConfig(people=(3,), train=6, test=2))
    result = publish(tmp_path / "kk", "org/kk", api=api, tag="v1.2.0")
    assert result.load_line == 'load_dataset("org/kk", "3ppl", revision="v1.2.0")'
    card = _git(hub, "show", "v1.2.0:README.md", repo="org/kk")
    assert card.count("# cotforge-kk (v1.2.0)") == 1 and "| dataset version | 1.2.0 |" in card
    manifest = json.loads((tmp_path / "kk/manifest.json").read_text())
    # the folder still verifies and is recognised as the same build by the K&K writer's own hash
    from cotforge.store import atomic
    assert manifest["build_hash"] == atomic.stable_hash(
        {"family": manifest["family"], "version": "1.2.0", "config": manifest["build_config"]})
    assert publish(tmp_path / "kk", "org/kk", api=api).status == "unchanged"


def test_model_folder_publishes_with_repo_type_model(tmp_path, hub, api):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 8)
    (model / "README.md").write_text("---\nlicense: mit\n---\n# tiny model\n")
    with pytest.raises(UsageError, match="no manifest.json version to tag: pass --tag"):
        publish(model, "org/m", api=api, repo_type="model")
    result = publish(model, "org/m", api=api, repo_type="model", tag="v0.1.0")
    assert result.load_line == 'snapshot_download("org/m", revision="v0.1.0")'
    assert _git(hub, "rev-parse", "v0.1.0^{commit}", kind="models", repo="org/m").strip() == result.commit
    assert (hub.git_dir("org/m", "models")).is_dir() and not hub.git_dir("org/m").exists()
    assert publish(model, "org/m", api=api, repo_type="model", bump="patch").status == "unchanged"
    checked = pull("org/m", "v0.1.0", tmp_path / "out", api=api, repo_type="model")
    assert checked.files_hash == result_files_hash(model)


def result_files_hash(folder: Path) -> str:
    from cotforge.hub.folder_check import check_folder

    return check_folder(folder, "model").files_hash


def test_a_repo_holding_someone_elses_files_is_not_wiped(tmp_path, hub, api):
    api.create_repo("org/theirs", repo_type="dataset")
    api.upload_file(path_or_fileobj=b"mine", path_in_repo="data.csv", repo_id="org/theirs", repo_type="dataset")
    mark = len(hub.requests)
    with pytest.raises(UsageError, match="already holds files that cotforge did not publish \\(e.g. data.csv\\)"):
        publish(build_folder(tmp_path / "ds", {"main/train": 2}), "org/theirs", api=api)
    assert [p for _, p in _writes_since(hub, mark)] == ["/api/repos/create"]


def test_private_reaches_create_repo(tmp_path, hub, api):
    publish(build_folder(tmp_path / "ds", {"main/train": 2}), REPO, api=api, private=True)
    create = next(r for r in hub.requests if r["path"] == "/api/repos/create")
    assert create["json"]["visibility"] == "private"


def test_a_publish_interrupted_after_its_commit_completes_on_rerun(tmp_path, hub, api):
    folder = build_folder(tmp_path / "ds", {"main/train": 2})
    real_tag = api.create_tag

    def lost_connection(*args, **kwargs):
        raise UsageError("simulated: connection lost before the tag was created")

    api.create_tag = lost_connection
    with pytest.raises(UsageError, match="simulated"):
        publish(folder, REPO, api=api, today="2026-01-02")
    assert _git(hub, "tag").split() == []
    api.create_tag = real_tag
    head = _git(hub, "rev-parse", "main").strip()
    result = publish(folder, REPO, api=api, today="2026-01-02")
    assert result.status == "published" and result.tag == "v1.0.0"
    assert result.commit == head == _git(hub, "rev-parse", "main").strip()  # the same commit, now tagged


def test_pull_of_a_missing_tag_is_one_line(tmp_path, hub, api):
    publish(build_folder(tmp_path / "v1", {"main/train": 4}), REPO, api=api)
    with pytest.raises(UsageError, match=r"org/toy: downloading v9\.9\.9 failed \(HTTP 404\)"):
        pull(REPO, "v9.9.9", tmp_path / "out", api=api)


def test_metadata_the_hub_rejects_is_one_line(tmp_path, hub, api):
    def rejecting(content, *, repo_type=None, token=None):  # what HfApi raises on the Hub's 400 for bad metadata
        raise ValueError("Invalid metadata in README.md.\n- \"license\" must be one of [apache-2.0, mit, ...]")

    api._validate_yaml = rejecting
    with pytest.raises(UsageError, match=r'^org/toy: uploading the folder: Invalid metadata in README.md.; "license" must'):
        publish(build_folder(tmp_path / "v1", {"main/train": 4}), REPO, api=api)
    assert _git(hub, "tag").split() == []


def test_a_tag_created_meanwhile_is_reported(tmp_path, hub, api):
    real_tag = api.create_tag

    def racing_tag(repo_id, *, tag, revision, **kwargs):  # another publish tags first
        real_tag(repo_id, tag=tag, revision=revision, **kwargs)
        return real_tag(repo_id, tag=tag, revision=revision, **kwargs)

    api.create_tag = racing_tag
    with pytest.raises(UsageError, match="the tag was created meanwhile by another publish"):
        publish(build_folder(tmp_path / "v1", {"main/train": 4}), REPO, api=api)


def test_an_unreachable_endpoint_is_one_line(tmp_path, hub):
    from huggingface_hub import HfApi

    dead = HfApi(endpoint="http://127.0.0.1:9", token=WRITE_TOKEN)  # discard port: nothing listens
    with pytest.raises(UsageError, match=r"^org/toy: creating the repo: cannot reach http://127\.0\.0\.1:9 \("):
        publish(build_folder(tmp_path / "v1", {"main/train": 4}), REPO, api=dead)


def test_the_token_of_hf_auth_login_is_used(tmp_path, cli_env, capsys, monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text(WRITE_TOKEN)  # where `hf auth login` stores it
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(token_file))
    code, out, err = _cli(capsys, "publish", str(build_folder(tmp_path / "ds", {"main/train": 3})), "--repo", REPO)
    assert code == 0, err
    create = next(r for r in cli_env.requests if r["path"] == "/api/repos/create")
    assert create["status"] == 200


def test_a_model_folder_with_a_manifest_is_checked_like_a_dataset(tmp_path, hub, api):
    folder = build_folder(tmp_path / "ds", {"main/train": 4})
    (folder / "data/main/train-00000-of-00001.parquet").write_bytes(b"changed after the build")
    with pytest.raises(UsageError, match="sha256 differs from manifest.json"):
        publish(folder, "org/m", api=api, repo_type="model")
    assert hub.requests == []
