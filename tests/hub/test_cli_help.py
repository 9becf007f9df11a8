"""`sethub COMMAND --help` ends with examples, for every command and every action (issue 17),
and every example is a command line the parser takes as written; `sethub --version` works."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from hub import __version__
from hub.cli import build_parser

from .process import run_sethub


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def every_parser() -> list[tuple[str, argparse.ArgumentParser]]:
    """(`command` or `command action`, its parser) for everything `sethub` offers."""
    found = []
    for command, parser in subcommands(build_parser()).items():
        found.append((command, parser))
        found.extend((f"{command} {action}", sub) for action, sub in subcommands(parser).items())
    return found


def example_commands(help_text: str) -> list[str]:
    """The `sethub ...` command lines of the help's examples: continuation lines joined,
    comments, `$(` `)`, pipes and redirections taken off."""
    examples = help_text.split("\nexamples:\n", 1)[1]
    joined = re.sub(r"\\\n\s*", " ", examples)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        command = line[line.index("sethub "):] if "sethub " in line else line
        command = re.split(r" [|<>] | ?\)$", command)[0]
        commands.append(command)
    return commands


PARSERS = every_parser()


@pytest.mark.parametrize("name, parser", PARSERS, ids=[name for name, _ in PARSERS])
def test_help_ends_with_examples_the_parser_takes(
    name: str, parser: argparse.ArgumentParser
) -> None:
    help_text = parser.format_help()
    assert "\nexamples:\n" in help_text, name
    commands = example_commands(help_text)
    assert any(c.startswith(f"sethub {name}") for c in commands), (name, commands)
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "sethub", command
        try:
            build_parser().parse_args(argv[1:])
        except SystemExit as exit_:
            raise AssertionError(f"{name}: the example {command!r} does not parse") from exit_


def test_every_command_is_covered() -> None:
    names = {name for name, _ in every_parser()}
    assert {"serve", "tokens create", "keys rotate", "publish", "listen", "verify",
            "deliveries retry", "db migrate", "sources add"} <= names


def test_version_from_the_installed_script() -> None:
    version = run_sethub("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"sethub {__version__}"
