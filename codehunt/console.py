"""Rich output for the CLI: progress and messages on stderr, results on stdout."""
from __future__ import annotations

import contextlib
import functools
import logging
import sys
from typing import Any, Callable, Iterator, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])


def stderr_console():  # noqa: ANN201 - rich.console.Console, imported lazily
    from rich.console import Console

    return Console(stderr=True)


def setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr_console(), show_path=False)],
        force=True,
    )


def cli_errors(function: F) -> F:
    """Turn user-input errors into a one-line message and exit code 1 (Ctrl-C into 130)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from codehunt.index.errors import CodehuntError

        try:
            return function(*args, **kwargs)
        except CodehuntError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted: nothing was published (an existing index is left intact)", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr while a step without its own progress bar runs."""
    if not sys.stderr.isatty():
        yield
        return
    with stderr_console().status(message):
        yield
