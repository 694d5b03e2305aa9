"""The CLI's side of the process: logging, quiet libraries, and error messages with exit codes.

Progress and messages go to stderr, results to stdout. Exit codes (README): 0 ok, 1 bad input
(a :class:`~codehunt.index.errors.CodehuntError`, one line naming the file and the fix), 2 usage
(a :class:`UsageError`: an option value no command accepts), 130 interrupted.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from typing import Any, Callable, Iterator, TypeVar

import typer

from codehunt.index.errors import CodehuntError

F = TypeVar("F", bound=Callable[..., Any])

# Environment switches read by huggingface_hub (whose bars transformers uses for weight loading) and by
# datasets when they are imported; "1" hides their progress bars. A value the user set is kept.
QUIET_ENVIRONMENT = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


class UsageError(CodehuntError):
    """An option value the command cannot accept (``-k 0``, an empty query, an unknown mode): exit code 2."""


def stderr_console():  # noqa: ANN201 - rich.console.Console, imported lazily
    from rich.console import Console

    return Console(stderr=True)


class DeferredRichHandler(logging.Handler):
    """A ``rich.logging.RichHandler`` on stderr that is built when the first record arrives.

    Why: importing rich's logging and console modules costs ~30 ms, paid on every start though most commands
    log nothing at the default level; a cold ``codehunt search --mode bm25`` has a 0.5 s budget.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            self._rich = RichHandler(console=stderr_console(), show_path=False)
            self._rich.setFormatter(self.formatter)
        self._rich.handle(record)


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[DeferredRichHandler()],
        force=True,
    )


def quiet_libraries() -> None:
    """Hide the progress bars transformers and datasets draw while loading weights and reading JSON.

    codehunt draws its own progress on stderr; those bars are noise on every search. This is
    process-wide state, so library code never does it: the CLI calls this once at start-up.
    Libraries not imported yet read the environment switches; ones already imported (a caller
    that imported transformers before running the CLI in-process) are told directly. Nothing
    heavy is imported here.
    """
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    hub = sys.modules.get("huggingface_hub")  # read its switch at import: told directly (transformers asks it)
    if hub is not None and _switched_on("HF_HUB_DISABLE_PROGRESS_BARS"):
        hub.utils.disable_progress_bars()
    transformers = sys.modules.get("transformers")
    if transformers is not None and _switched_on("HF_HUB_DISABLE_PROGRESS_BARS"):
        transformers.utils.logging.disable_progress_bar()
    datasets = sys.modules.get("datasets")
    if datasets is not None and _switched_on("HF_DATASETS_DISABLE_PROGRESS_BARS"):
        datasets.disable_progress_bars()


def _switched_on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def require(condition: bool, message: str) -> None:
    """Raise :class:`UsageError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise UsageError(message)


@contextlib.contextmanager
def options_checked() -> Iterator[None]:
    """Turn an error raised while options become configs into a usage error (exit code 2).

    A config validates its fields when it is made, before any file is read, so any error it
    raises here is about the command line (``--kind bogus``, ``--steps 0``), not about the
    inputs; the same ConfigError raised later (a config read from a file) stays exit code 1.
    """
    try:
        yield
    except UsageError:
        raise
    except CodehuntError as exc:
        raise UsageError(str(exc)) from exc


def cli_errors(function: F) -> F:
    """Turn usage errors into one line and exit code 2, other user-input errors (every
    :class:`CodehuntError`, ConfigError included) into one line and exit code 1, Ctrl-C into 130."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UsageError as exc:
            print(f"error: {_one_line(exc)} (see --help)", file=sys.stderr)
            raise typer.Exit(2) from None
        except CodehuntError as exc:
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted: nothing was published (an existing index is left intact)", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
