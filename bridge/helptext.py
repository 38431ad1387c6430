"""``--help`` in Chinese for every command and option (issue 26, finding 9).

The texts live in the message catalogue (``help.command.<path>``, ``help.option.<path>.<param>``,
``help.param.<param>`` for a parameter that means the same in every command); the English of the
code stays beside them. ``apply`` is called once, after every command is registered and before
typer builds the click commands; a parameter declared without ``typer.Option`` gets one, so that
it can carry its help. A command or option that already speaks Chinese is left as it is; one the
catalogue has no text for keeps its English (the test of every help text finds it).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer
from typer.models import ParameterInfo

from config.catalogue import has, text

_CJK = re.compile("[\u3400-\u9fff]")


def chinese(value: str | None) -> bool:
    return bool(value and _CJK.search(value))


def _beside(key: str, english: str | None) -> str | None:
    if chinese(english) or not has(key):
        return english
    return f"{text(key)}  {english}" if english else text(key)


def _param_key(path: str, name: str) -> str:
    specific = f"help.option.{path}.{name}"
    return specific if has(specific) or not has(f"help.param.{name}") else f"help.param.{name}"


def _params(callback: Any, path: str) -> None:
    signature = inspect.signature(callback)
    changed = []
    for param in signature.parameters.values():
        default = param.default
        if not isinstance(default, ParameterInfo):  # a plain default: give it an Option to hold its help
            default = typer.Argument() if default is inspect.Parameter.empty else typer.Option(default)
            param = param.replace(default=default)
        default.help = _beside(_param_key(path, param.name), default.help)
        changed.append(param)
    callback.__signature__ = signature.replace(parameters=changed)


def _command_help(info: Any, path: str) -> None:
    english = info.help or inspect.getdoc(info.callback) or ""
    info.help = _beside(f"help.command.{path}", english)


def apply(app: typer.Typer, path: str = "") -> None:
    """Chinese help on ``app``'s commands, options and groups, recursively."""
    if not path:
        app.info.help = _beside("help.command.main", app.info.help)
        if app.registered_callback is not None and app.registered_callback.callback is not None:
            _params(app.registered_callback.callback, "main")
        _help_option()
    for command in app.registered_commands:
        if command.callback is None:  # typer registers every command with its function
            continue
        name = command.name or command.callback.__name__.replace("_", "-")
        full = f"{path} {name}".strip()
        _command_help(command, full)
        _params(command.callback, full)
    for group in app.registered_groups:
        full = f"{path} {group.name}".strip()
        sub = group.typer_instance
        if sub is None:  # a group added with app.add_typer always has its Typer
            continue
        sub.info.help = _beside(f"help.command.{full}", group.help or sub.info.help)
        group.help = sub.info.help
        apply(sub, full)


def _help_option() -> None:
    """click's own ``--help`` says "Show this message and exit." in English: in Chinese beside it."""
    from typer._click.core import Command

    if getattr(Command.get_help_option, "_chinese", False):
        return
    original = Command.get_help_option

    def get_help_option(self: Any, ctx: Any) -> Any:
        option = original(self, ctx)
        if option is not None and not chinese(option.help):
            option.help = _beside("help.help_option", option.help)
        return option

    get_help_option._chinese = True  # type: ignore[attr-defined]
    # Patching click's method is the point: every command's --help option goes through it.
    Command.get_help_option = get_help_option  # type: ignore[method-assign]
