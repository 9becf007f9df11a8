"""The configuration reference, docs/configuration.md, generated from the one settings model.

    python -m hub.config.reference > docs/configuration.md

The page is made from `Settings` (each field's flag, env var, default and description), so it
cannot fall behind the model: tests/test_docs.py fails when the committed page differs from what
this module prints. Defaults are shown as a user types them, the same way `sethub serve --help`
shows them (`hub.cli.options` uses `shown_default` from here).
"""

from __future__ import annotations

import sys
from typing import Any

from .settings import Settings, flag

__all__ = ["render", "shown_default"]

NOT_SET = "not set"

INTRO = """\
# Configuration

Every setting below is a flag of `sethub serve`, an environment variable, and a key of an optional
TOML file given with `--config FILE` (or `SETHUB_CONFIG`). Flags win over environment variables,
which win over the file, which wins over the defaults. The other commands (`sethub tokens`,
`deliveries`, `keys`, `sources`, `db`) read the same environment variables and file, so they find
the database and keys `serve` uses.

- **File keys** are the flag without `--` (`claim-ttl = 90`; `claim_ttl` works too), at the top
  level of the file: no tables.
- **Lists** (`allow-topic`, `allow-network`, `agreed-credential-type`, `retry-schedule`) are
  comma-separated in an environment variable and in a flag's value; the flags of the first three
  may also be repeated. In a file, write a TOML list or a comma-separated string.
- **Switches** are `--NAME` / `--no-NAME` on the command line (so a flag can turn off what the
  environment turned on), `true` / `false` in a file, and `1`/`0`, `true`/`false` in the
  environment.
- **Secrets:** give the secret key by `SETHUB_SECRET_KEY` or `--secret-key-file`, never as a
  flag: every local user can read a process's command line, and `sethub serve` warns when it is
  given that way. [Operations](operations.md#keys-and-secrets) says how to make one.
- A bad value stops the command with one line naming the flag, variable or file key as you gave
  it, e.g. `sethub: invalid --claim-ttl: ...`.

Rules between settings, checked at start-up:

- `--lease-min` <= `--lease-default` <= `--lease-max`.
- `--claim-ttl` is more than three times `--delivery-timeout` (a claimed delivery's lease must
  outlast its attempt and the write of its outcome), and at least three times `--verify-timeout`
  (a verification's lease is not renewed: a slow one must never be claimed a second time).
- `--secret-key` (`SETHUB_SECRET_KEY`) and `--secret-key-file` are not both given.
- `sethub serve` on a wildcard `--host` (`0.0.0.0`, `::`) needs `--public-url`: the URL goes into
  topic URLs, Link headers and every SET's `iss`, and `http://0.0.0.0:8080` reaches nobody.

This page is generated from the settings model (`hub/config/settings.py`) by
`python -m hub.config.reference > docs/configuration.md`; a test fails when the two disagree.
"""

TABLE_HEAD = """\
| flag | environment variable | default | meaning |
|---|---|---|---|
"""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def shown_default(value: Any) -> str | None:
    """A default as a user would type it (`10,30,120`, `sethub.db`, `off`), None for none."""
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list | tuple):
        return ",".join(_number(v) if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _cell(text: str) -> str:
    """Table cell text: a `|` would end the cell, a newline the row."""
    return " ".join(text.split()).replace("|", "\\|")


def _row(name: str) -> str:
    field = Settings.model_fields[name]
    default = shown_default(field.get_default(call_default_factory=True))
    shown = f"`{_cell(default)}`" if default is not None else NOT_SET
    description = _cell(field.description or "")
    return f"| `{flag(name)}` | `SETHUB_{name.upper()}` | {shown} | {description} |\n"


def render() -> str:
    """The whole page: the introduction, then one table row per setting, in the model's order."""
    rows = "".join(_row(name) for name in Settings.model_fields)
    return f"{INTRO}\n## Settings\n\n{TABLE_HEAD}{rows}"


if __name__ == "__main__":
    sys.stdout.write(render())
