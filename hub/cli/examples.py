"""Examples at the end of `sethub COMMAND --help`: what a user copies first, so each is a command
that works as written (tests/hub/test_cli_help.py parses every one)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["with_examples"]


def with_examples(*examples: str) -> dict[str, Any]:
    """`add_parser` keyword arguments that end the command's help with `examples`, each printed
    line for line (a `# comment` line may say what the next one does)."""
    lines = [f"  {line}" for example in examples for line in example.splitlines()]
    return {
        "epilog": "examples:\n" + "\n".join(lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
