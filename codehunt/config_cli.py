"""Typer commands generated from frozen config dataclasses: one CLI option per field.

Configs are the single source of truth for flags, defaults and help text, so a field
added to ``FilterConfig`` shows up in ``codehunt mine filter --help`` without CLI edits.
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Any, Callable, Sequence

import typer

from codehunt.console import cli_errors, options_checked


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def config_command(
    app: typer.Typer,
    name: str,
    config_class: type,
    run: Callable[[Any], None],
    arguments: Sequence[str] = (),
    short: dict[str, str] | None = None,
    help_text: str = "",
    extra_help: dict[str, str] | None = None,
    leading: Sequence[inspect.Parameter] = (),
) -> None:
    """Register ``name`` on ``app``: fields in ``arguments`` are positional, the rest options.

    ``run`` receives the config instance built from the parsed command line, plus the values
    of any ``leading`` parameters (inputs that are not config fields, such as an issue file)
    as keyword arguments. An error the config raises while it is built is a usage error
    (exit code 2, one line); errors ``run`` raises keep their own codes.
    """
    hints = typing.get_type_hints(config_class)
    short = short or {}
    parameters = list(leading)
    for field in dataclasses.fields(config_class):
        annotation = hints[field.name]
        help_ = (extra_help or {}).get(field.name) or field.metadata.get("help", "")
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = field.default_factory()  # type: ignore[misc]
        else:
            default = ...
        if isinstance(default, tuple):
            default = list(default)
            annotation = list[typing.get_args(annotation)[0]] if typing.get_args(annotation) else list[str]
        if field.name in arguments:
            marker = typer.Argument(default, help=help_, show_default=default is not ...)
        else:
            flags = [option_name(field.name)] + ([short[field.name]] if field.name in short else [])
            if annotation is bool:
                flags = [f"{option_name(field.name)}/--no-{field.name.replace('_', '-')}"]
            marker = typer.Option(default, *flags, help=help_)
        parameters.append(inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=marker, annotation=annotation))

    def command(**values: Any) -> None:
        extras = {parameter.name: values.pop(parameter.name) for parameter in leading}
        for field in dataclasses.fields(config_class):
            if isinstance(values.get(field.name), list):
                values[field.name] = tuple(values[field.name])
        with options_checked():  # the config rejects a bad option before any work: exit code 2
            config = config_class(**values)
        run(config, **extras)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__name__ = name.replace("-", "_")
    command.__doc__ = help_text
    app.command(name, help=help_text)(cli_errors(command))


__all__ = ["config_command", "Path"]
