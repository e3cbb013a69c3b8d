"""Command-line plumbing shared by the scripts: flags generated from the config dataclasses
(one per field, with its help text) and the rule that bad input is one line on stderr and exit
code 2, never a traceback. It deliberately holds no training logic.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NoReturn


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _number(kind: type):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None

    parse.__name__ = kind.__name__
    return parse


def add_config_flags(
    parser: argparse.ArgumentParser,
    config_type: type,
    skip: tuple[str, ...] = (),
    defaults: Mapping[str, Any] = MappingProxyType({}),
) -> list[str]:
    """One flag per field of ``config_type`` (default None: 'not given'); returns the names.

    ``defaults`` replaces fields' own defaults in the help text (a learner's loop defaults).
    """
    names = []
    for f in dataclasses.fields(config_type):
        if f.name in skip or "help" not in f.metadata:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} (default: {_show(defaults.get(f.name, f.default))})"
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(f.default, tuple):
            parser.add_argument(flag, type=_sizes, default=None, metavar="N,N", help=help_text)
        elif isinstance(f.default, (int, float)):
            kind = type(f.default)
            parser.add_argument(
                flag, type=_number(kind), default=None, metavar=kind.__name__.upper(), help=help_text
            )
        else:
            parser.add_argument(flag, default=None, help=help_text)
        names.append(f.name)
    return names


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def given(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The fields the user set on the command line."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}
