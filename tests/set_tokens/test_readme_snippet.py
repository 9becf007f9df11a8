"""The README's set_tokens snippet and the examples are written on the top-level names only, and
the snippet runs as written (issue 17), for an event the catalog knows and for one it does not
(an earlier README printed `event_type.name`, which was None for the latter: code review §5.3).

The snippet is run with its placeholder hub, https://hub.example, pointed at a JWKS server on
loopback; nothing else in it is changed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import set_tokens
from set_tokens import KeySet, issue
from set_tokens.events import CAEP_BASE

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PLACEHOLDER_HUB = "https://hub.example"
PLACEHOLDER_AUDIENCE = "https://rp.example"
SUBJECT = {"format": "email", "email": "jane@example.com"}


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def receiver_snippet() -> str:
    found = [block for block in python_blocks() if "Verifier(" in block]
    assert len(found) == 1, "the README shows one set_tokens receiver snippet"
    return found[0]


@pytest.mark.parametrize(
    "source",
    [*sorted((ROOT / "examples").glob("*.py")), "README.md"],
    ids=lambda s: s if isinstance(s, str) else s.name,
)
def test_only_top_level_names_are_imported(source: Path | str) -> None:
    texts = python_blocks() if source == "README.md" else [Path(source).read_text()]
    imported = 0
    for text in texts:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("set_tokens.") for a in node.names), source
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("set_tokens"):
                assert node.module == "set_tokens", (source, node.module)
                names = {alias.name for alias in node.names}
                assert names <= set(set_tokens.__all__), (source, names)
                imported += len(names)
    assert imported, f"{source} does not use set_tokens"


@pytest.mark.parametrize("event_type", [f"{CAEP_BASE}session-revoked",
                                        "https://idp.test/events/loyalty-tier-changed"])
async def test_the_readme_receiver_snippet_runs_as_written(
    event_type: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = KeySet.with_new_key("RS256")
    app = web.Application()

    async def jwks(_: web.Request) -> web.Response:
        return web.json_response(keys.jwks())

    app.router.add_get("/.well-known/jwks.json", jwks)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        hub = str(server.make_url("")).rstrip("/")
        code = receiver_snippet().replace(PLACEHOLDER_HUB, hub)
        assert "://" not in code.replace(hub, "").replace(PLACEHOLDER_AUDIENCE, "")  # loopback only
        token = issue(key=keys, issuer=hub, audience=PLACEHOLDER_AUDIENCE, event_type=event_type,
                      payload={"reason_admin": {"en": "test"}}, subject=SUBJECT)
        monkeypatch.chdir(tmp_path)  # where the snippet's replay database goes
        compiled = compile(code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        pending = eval(compiled, {"token": token})  # noqa: S307 (the README's own code)
        if pending is not None:
            await pending
    finally:
        await server.close()
    printed = capsys.readouterr().out
    name = "session-revoked" if event_type.startswith(CAEP_BASE) else event_type
    assert printed.startswith(name), printed
