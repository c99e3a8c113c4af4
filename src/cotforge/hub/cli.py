"""``cotforge publish DIR --repo ORG/NAME`` and ``cotforge pull ORG/NAME --revision TAG --out DIR``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("publish")
    def publish_cmd(
        dir: str = typer.Argument(..., help="A finished cotforge folder (dataset, eval run or model)."),
        repo: str = typer.Option(..., "--repo", help="Hub repository ORG/NAME (created when missing)."),
        private: bool = typer.Option(False, "--private", help="Create the repository private."),
        tag: str = typer.Option(None, "--tag", help="Publish as this version tag vX.Y.Z (default: v + manifest version)."),
        bump: str = typer.Option(None, "--bump", help="Publish as the next patch, minor or major version."),
        repo_type: str = typer.Option("dataset", "--repo-type", help="dataset or model."),
    ):
        """Check a folder, upload it and tag the commit with its version (idempotent; versions are immutable)."""
        from cotforge.hub.publish import publish

        result = publish(dir, repo, repo_type=repo_type, private=private, tag=tag, bump=bump)
        typer.echo(result.message)
        typer.echo(result.load_line)

    @app.command("pull")
    def pull_cmd(
        repo: str = typer.Argument(..., help="Hub repository ORG/NAME."),
        revision: str = typer.Option(..., "--revision", help="The version tag (or commit) to download."),
        out: str = typer.Option(..., "--out", help="A new or empty folder to download into."),
        repo_type: str = typer.Option("dataset", "--repo-type", help="dataset or model."),
    ):
        """Download one version of a repository and verify every file against its manifest."""
        from cotforge.hub.pull import pull

        checked = pull(repo, revision, out, repo_type=repo_type)
        typer.echo(f"{repo}@{revision}: {len(checked.files)} files in {out}, verified (content {checked.content_hash[:16]})")
