"""Command groups whose commands are imported only when a command line names them.

Why: ``codehunt search --mode bm25`` should start in well under half a second, and the commands generated
from the mining, training and localization configs (``codehunt.config_cli``) cost ~110 ms to import and
register (some hundred dataclasses and the modules that define them) on every start (``import codehunt.cli``
0.178 s before, 0.066 s after, in ``benchmarks/serve_latency.py --sections cold``). Click's documented
answer is a lazily loading group ("Lazily Loading Subcommands" in click's docs); this is that, for typer:
the group's ``commands`` mapping holds a ``"module:attribute"`` reference for each lazy name and turns it
into a click command on first lookup. ``codehunt --help`` still lists every command (listing looks them all
up); ``codehunt search ...`` never imports them.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup


class LazyCommands(MutableMapping):
    """A group's name -> click command mapping in which some entries are imported on first access.

    ``targets`` maps a command name to ``"package.module:attribute"``, where the attribute is a
    ``typer.Typer`` (a group of commands, or one command when it registers only one).
    """

    def __init__(self, eager: MutableMapping[str, Any], targets: dict[str, str]):
        self._loaded: dict[str, Any] = dict(eager)
        self._targets = {name: target for name, target in targets.items() if name not in self._loaded}

    def _load(self, name: str) -> Any:
        module_name, _, attribute = self._targets.pop(name).partition(":")
        target: Any = getattr(importlib.import_module(module_name), attribute)
        command = typer.main.get_command(target) if isinstance(target, typer.Typer) else target
        command.name = name
        self._loaded[name] = command
        return command

    def __getitem__(self, name: str) -> Any:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._targets:
            return self._load(name)
        raise KeyError(name)

    def __setitem__(self, name: str, command: Any) -> None:
        self._targets.pop(name, None)
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name in self._targets:
            del self._targets[name]
        else:
            del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from list(self._loaded)
        yield from list(self._targets)

    def __len__(self) -> int:
        return len(self._loaded) + len(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._targets


def lazy_group(base: type[TyperGroup] = TyperGroup, **targets: str) -> type[TyperGroup]:
    """A ``TyperGroup`` class (for ``typer.Typer(cls=...)``) that adds ``targets`` as lazily imported commands.

    ``lazy_group(mine="codehunt.cli_mine:mine_app")`` makes ``mine`` a command of the group that is imported
    from ``codehunt.cli_mine`` only when a command line, ``--help`` or a test asks for it. ``base`` lets a group
    keep its own parsing (``eval``'s default subcommand).
    """

    class LazyTyperGroup(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.commands = LazyCommands(self.commands, targets)

    LazyTyperGroup.__name__ = LazyTyperGroup.__qualname__ = f"Lazy{base.__name__}"
    return LazyTyperGroup
