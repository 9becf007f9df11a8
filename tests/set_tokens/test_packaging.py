"""set_tokens installs on its own (walkthrough finding 6): `pip install ./packaging/set_tokens`
gives a receiver the package with its own four dependencies, none of the hub's. These tests keep
that distribution in step with the package and with the sethub distribution."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "set_tokens"
DISTRIBUTION = ROOT / "packaging" / "set_tokens"
OWN = tomllib.loads((DISTRIBUTION / "pyproject.toml").read_text())["project"]
SETHUB = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Import name of each dependency; multidict comes with aiohttp (its headers' type).
IMPORTS = {"aiohttp": {"aiohttp", "multidict"}, "pyjwt": {"jwt"},
           "cryptography": {"cryptography"}, "pydantic": {"pydantic"}}
HUB_ONLY = ("hub", "pydantic_settings", "prometheus_client", "asyncpg")


def requirement_name(requirement: str) -> str:
    return requirement.split("[")[0].split(">")[0].split("=")[0].strip().lower()


def test_the_distribution_holds_the_whole_package_and_nothing_else(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "egg_info",
         "--egg-base", str(tmp_path)],
        cwd=DISTRIBUTION, capture_output=True, text=True, check=False, timeout=60)
    assert built.returncode == 0, built.stderr
    info = tmp_path / "set_tokens.egg-info"
    sources = {line for line in (info / "SOURCES.txt").read_text().splitlines()
               if line.endswith(".py")}
    modules = {f"../../{p.relative_to(ROOT).as_posix()}" for p in PACKAGE.rglob("*.py")}
    assert sources == modules
    assert (info / "requires.txt").read_text().split() == OWN["dependencies"]
    assert sorted(p.name for p in DISTRIBUTION.iterdir()) == ["pyproject.toml"]  # built clean


def test_its_dependencies_and_version_are_the_hubs() -> None:
    assert set(OWN["dependencies"]) <= set(SETHUB["dependencies"])
    assert OWN["version"] == SETHUB["version"]
    assert OWN["requires-python"] == SETHUB["requires-python"]


def test_set_tokens_imports_only_the_standard_library_and_its_dependencies() -> None:
    allowed = set(sys.stdlib_module_names) | {"set_tokens"}
    for requirement in OWN["dependencies"]:
        allowed |= IMPORTS[requirement_name(requirement)]
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.relative_to(ROOT)} imports {name}"


BLOCKED_RUN = f"""
import asyncio, importlib.abc, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HUB_ONLY!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed", name=name)

sys.meta_path.insert(0, Absent())
import set_tokens, set_tokens.errors, set_tokens.events, set_tokens.lowlevel
import set_tokens.subjects, set_tokens.websub
from set_tokens import KeySet, StaticJwks, Verifier, issue

keys = KeySet.with_new_key("ES256")
token = issue(key=keys, issuer="https://hub.test", audience="https://rp.test",
              event_type="urn:test:event", payload={{"a": 1}},
              subject={{"format": "opaque", "id": "x"}})
verifier = Verifier(issuer="https://hub.test", audience="https://rp.test",
                    algorithms=["ES256"], jwks=StaticJwks(keys.jwks()))
print(asyncio.run(verifier.verify(token)).event_name)
"""


def test_set_tokens_works_without_the_hubs_dependencies() -> None:
    ran = subprocess.run([sys.executable, "-c", BLOCKED_RUN], capture_output=True, text=True,
                         check=False, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "urn:test:event"


def test_every_pip_install_in_the_readme_names_something_in_the_repository() -> None:
    """No index serves sethub or set-tokens, so an install line must name a local project (the
    README said `pip install sethub` before)."""
    readme = (ROOT / "README.md").read_text()
    targets = [
        word.strip("'\"`")
        for line in re.findall(r"pip install ([^`\n&|;)]+)", readme)
        for word in line.split()
        if not word.startswith("-")
    ]
    assert targets
    for target in targets:
        path = target.split("[")[0]
        assert path.startswith("."), f"the README installs {target!r} from an index"
        assert (ROOT / path / "pyproject.toml").is_file(), target
