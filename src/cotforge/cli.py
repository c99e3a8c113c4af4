"""The one ``cotforge`` command. Each package contributes a sub-command module; heavy imports
happen inside the commands so ``cotforge --help`` stays fast.

Errors the user can fix (:class:`cotforge.errors.UsageError`) print one line and exit with code 2.
"""

from __future__ import annotations

import os
import sys

# Arrow's default allocator (mimalloc) keeps freed pages, so the RSS of a long streaming build grows
# well past its working set; the system allocator returns them. Arrow reads this once, when pyarrow
# is first imported, so it is set before anything below imports it. A user's own setting wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import typer  # noqa: E402

from cotforge import __version__  # noqa: E402
from cotforge.errors import MissingExtraError, UsageError, environment_error_message  # noqa: E402

app = typer.Typer(
    name="cotforge",
    help="Reasoning data that trains small models well: build, verify, distill, query.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool):
    if value:
        typer.echo(f"cotforge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    """cotforge command line."""


def _register() -> None:
    # Each line adds one package's commands. The modules import only typer/stdlib at top level.
    from cotforge.datagen.kk.cli import kk_app
    from cotforge.store.cli import register as register_store

    app.add_typer(kk_app, name="kk")
    register_store(app)
    from cotforge.verifiers.cli import register as register_verify

    register_verify(app)
    from cotforge.datagen.cli import register as register_datagen

    register_datagen(app)
    # --- sub-commands added by later packages register below this line ---
    from cotforge.hub.cli import register as register_hub

    register_hub(app)  # publish, pull
    from cotforge.evals.cli import register as register_eval

    register_eval(app)  # eval run, rescore, report, leaderboard, compare
    from cotforge.trainers.cli import register as register_train

    register_train(app)  # train sft|dpo|grpo|ppo, recipe run


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app, turning usage errors into one line on stderr and exit code 2."""
    try:
        # Without standalone mode click returns a typer.Exit's code instead of raising it.
        result = app(args=argv, prog_name="cotforge", standalone_mode=False)
        if isinstance(result, int):
            return result
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except MissingExtraError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except OSError as exc:
        # full disk, read-only or impossible output paths, permissions: the machine's doing, one line
        message = environment_error_message(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        return 2
    except UnicodeDecodeError as exc:
        # a binary file where text was expected; readers that know the file and row say so themselves
        typer.echo(f"error: an input is not UTF-8 text ({exc.reason} at byte {exc.start}); is it a binary file?", err=True)
        return 2
    except Exception as exc:
        # click usage errors (bad option names, wrong types); typer ships its own copy of click,
        # so recognise them by behaviour rather than by class.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return 2 if exc.exit_code in (None, 1, 2) else exc.exit_code
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
