"""Running a command as a user meets permission errors: without root's override, if need be."""

from __future__ import annotations

import os
import shlex
import shutil

import pytest

DROPPED = "cap_dac_override,cap_dac_read_search"


def unprivileged(command: list[str]) -> list[str]:
    """`command` as it runs for a user that file modes apply to. As root, the capabilities that
    override file modes are dropped (with capsh); the test is skipped if they cannot be."""
    if os.geteuid() != 0:
        return command
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("running as root without capsh: file modes cannot be enforced")
    return [capsh, f"--drop={DROPPED}", "--", "-c", shlex.join(command)]
