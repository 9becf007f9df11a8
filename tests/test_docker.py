"""What can be checked of docker/ without a container engine.

The image and the compose file are run for real by docker/smoke.sh (podman, not in CI). Here:
the Dockerfile copies files that exist and its ignore file lets them through; the final stage
runs as a non-root user and installs nothing; the healthcheck script passes against a real hub
and fails without one; every `sethub serve` flag and SETHUB_* variable in the compose file is a
real setting whose value validates; the receiver's flags are real flags of the example, and its
callback is on the network the hubs are allowed to call.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.cli import build_parser
from hub.config import Settings, load_settings
from hub.database_url import PostgresURL

from .hub.support import free_port, start_hub, stop_hub

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
IGNORE_FILE = DOCKER / "Dockerfile.dockerignore"
COMPOSE_FILE = DOCKER / "compose.yaml"
HEALTHCHECK = DOCKER / "healthcheck.py"
RECEIVER = REPO / "examples" / "receiver.py"
README = REPO / "README.md"

# Values for the variables the compose file requires (`${NAME:?...}`); the README says to set them.
REQUIRED_VARIABLES = {
    "SETHUB_SECRET_KEY": base64.b64encode(bytes(32)).decode(),
    "POSTGRES_PASSWORD": "example-password",
}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<word>[^}]*))?\}")


# --- the Dockerfile --------------------------------------------------------------------------


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def copy_sources() -> list[str]:
    """Sources of every COPY from the build context (not from another stage)."""
    sources: list[str] = []
    for name, arguments in instructions():
        words = shlex.split(arguments)
        if name != "COPY" or any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


def image_environment() -> dict[str, str]:
    """The ENV of the final stage."""
    env: dict[str, str] = {}
    for name, arguments in stages()[-1]:
        if name == "ENV":
            env.update(word.split("=", 1) for word in shlex.split(arguments))
    return env


def test_the_dockerfile_copies_files_that_exist_and_the_ignore_file_lets_them_through() -> None:
    sources = copy_sources()
    assert "hub" in sources and "set_tokens" in sources and "pyproject.toml" in sources
    kept = {line.strip().rstrip("/") for line in IGNORE_FILE.read_text().splitlines()}
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert f"!{source}" in kept, f"COPY {source}: excluded by {IGNORE_FILE.name}"


def test_both_stages_start_from_the_base_argument_an_official_slim_python_by_default() -> None:
    (arg,) = [
        arguments
        for name, arguments in instructions()
        if name == "ARG" and arguments.startswith("BASE=")
    ]
    assert re.fullmatch(r"BASE=python:3\.1[1-9]-slim", arg)
    assert [stage[0][1].split()[0] for stage in stages()] == ["${BASE}", "${BASE}"]


def test_the_final_stage_runs_unprivileged_installs_nothing_and_checks_its_health() -> None:
    final = stages()[-1]
    names = [name for name, _ in final]
    users = [arguments for name, arguments in final if name == "USER"]
    assert users and users[-1] not in ("root", "0"), "the hub must not run as root"
    for name, arguments in final:
        if name == "RUN":
            assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", arguments), arguments
    (health,) = [arguments for name, arguments in final if name == "HEALTHCHECK"]
    assert "/opt/sethub/healthcheck.py" in health
    assert "COPY docker/healthcheck.py /opt/sethub/healthcheck.py" in DOCKERFILE.read_text()
    # The volume is the working directory, so the default sethub.db and sethub-keys land in it.
    (workdir,) = [arguments for name, arguments in final if name == "WORKDIR"]
    assert ("VOLUME", workdir) in final
    assert names.index("USER") < names.index("ENTRYPOINT")
    env = image_environment()
    assert Settings.model_validate({"host": env["SETHUB_HOST"], "port": env["SETHUB_PORT"]})


# --- the healthcheck ---------------------------------------------------------------------------


async def run_healthcheck(env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HEALTHCHECK),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=20)
    return process.returncode or 0, err.decode()


async def test_the_healthcheck_passes_on_a_running_hub_and_fails_without_one(
    tmp_path: Path,
) -> None:
    running = await start_hub(tmp_path)
    port = str(running.settings.port)
    try:
        # As in the image: the hub listens on every address, the check asks loopback.
        assert await run_healthcheck({"SETHUB_HOST": "0.0.0.0", "SETHUB_PORT": port}) == (0, "")
        assert await run_healthcheck({"SETHUB_HOST": "127.0.0.1", "SETHUB_PORT": port}) == (0, "")
    finally:
        await stop_hub(running)
    code, err = await run_healthcheck({"SETHUB_HOST": "0.0.0.0", "SETHUB_PORT": port})
    assert code == 1
    assert err.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz") and err.count("\n") == 1


async def test_the_healthcheck_fails_on_a_server_that_is_not_healthy(tmp_path: Path) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="store unavailable")

    app = web.Application()
    app.router.add_get("/healthz", broken)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        code, err = await run_healthcheck({"SETHUB_PORT": str(server.port)})
    finally:
        await server.close()
    assert code == 1 and "500" in err


# --- the compose file --------------------------------------------------------------------------


def interpolate(value: Any) -> Any:
    """The compose file's `${NAME:-default}` with its defaults, `${NAME:?why}` with test values."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            if match["op"] in (":?", "?"):
                assert match["name"] in REQUIRED_VARIABLES, f"no test value for {match[0]}"
                return REQUIRED_VARIABLES[match["name"]]
            assert match["op"] in (":-", "-"), f"{match[0]}: give a default or say why it is needed"
            return match["word"]

        return VARIABLE.sub(substitute, value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolate(loaded)


def hub_services() -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose()["services"].items()
        if list(service.get("command", []))[:1] == ["serve"]
    }


def service_settings(service: dict[str, Any]) -> Settings:
    """The settings `sethub serve` would run with in this service, flags parsed by the CLI."""
    args = build_parser().parse_args(list(service["command"]))
    flags = {name: getattr(args, name, None) for name in Settings.model_fields}
    environment = {**image_environment(), **service.get("environment", {})}
    for name in environment:
        if name.startswith("SETHUB_"):
            assert name[len("SETHUB_") :].lower() in Settings.model_fields, f"{name}: no setting"
    return load_settings(flags, environ={k: str(v) for k, v in environment.items()})


def test_the_compose_file_builds_the_dockerfile_and_runs_several_hub_nodes() -> None:
    hubs = hub_services()
    assert len(hubs) >= 2, "compose.yaml runs at least two hub nodes"
    for name, service in hubs.items():
        context = COMPOSE_FILE.parent / service["build"]["context"]
        assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE
        assert service.get("user") in (None, "sethub", "10001"), f"{name} must not run as root"


def test_every_hub_flag_and_variable_is_a_setting_and_the_nodes_agree() -> None:
    settings = {name: service_settings(service) for name, service in hub_services().items()}
    for name, node in settings.items():
        # The image listens on every address: the hub must be told the URL it is reached at.
        assert node.host == "0.0.0.0" and node.public_url, f"{name}: give --public-url"
    first = next(iter(settings.values()))
    for node in settings.values():  # one hub: one database, one issuer, one secret key
        assert (node.db, node.set_issuer, node.secret_key) == (
            first.db,
            first.set_issuer,
            first.secret_key,
        )


def test_no_node_keeps_keys_of_its_own_and_every_node_has_the_secret_key() -> None:
    """On PostgreSQL the signing keys are in the database, sealed with the secret key: no
    volume shares a keys directory between the nodes (the stopgap before that), and no node
    waits for another to have made the first key."""
    (workdir,) = [arguments for name, arguments in stages()[-1] if name == "WORKDIR"]
    assert set(compose().get("volumes", {})) == {"postgres-data"}
    for name, service in hub_services().items():
        settings = service_settings(service)
        assert isinstance(settings.db, PostgresURL), f"{name}: not on the shared database"
        assert settings.secret_key_bytes is not None, f"{name}: no secret key for its keys"
        keys = str(Path(workdir) / settings.keys_dir)
        mounted = [str(mount).split(":")[1] for mount in service.get("volumes", [])]
        assert not any(keys.startswith(path) for path in mounted), f"{name}: keys on a volume"
        assert set(service.get("depends_on", {})) == {"postgres"}, f"{name}: waits for a node"


def test_published_ports_are_the_image_port_on_loopback() -> None:
    port = image_environment()["SETHUB_PORT"]
    for name, service in hub_services().items():
        for mapping in service.get("ports", []):
            host, _, container = str(mapping).rpartition(":")
            assert container == port, f"{name} publishes {mapping}, the hub listens on {port}"
            assert host.startswith("127.0.0.1:"), f"{name}: publish on loopback by default"


def receiver_flags() -> set[str]:
    done = subprocess.run(
        [sys.executable, str(RECEIVER), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return set(re.findall(r"--[a-z][a-z-]*", done.stdout))


def test_the_receiver_is_reached_on_the_network_the_hubs_may_call() -> None:
    services = compose()["services"]
    receiver = services["receiver"]
    assert receiver["entrypoint"][-1] == "/opt/sethub/examples/receiver.py"
    options = dict(option.split("=", 1) for option in receiver["command"])
    assert set(options) <= receiver_flags()
    assert options["--origin"] == f"http://receiver:{options.get('--port', '9001')}"
    (network,) = compose()["networks"].values()
    subnet = ipaddress.ip_network(network["ipam"]["config"][0]["subnet"])
    for name, service in hub_services().items():
        node = service_settings(service)
        assert options["--topic"].startswith(f"{node.base_url}/topics/")
        assert options.get("--issuer", node.set_issuer) == node.set_issuer
        assert any(
            subnet.subnet_of(allowed)
            for allowed in node.allowed_networks
            if allowed.version == subnet.version
        ), f"{name} may not call the receiver"


def test_the_readme_says_how_to_run_several_nodes_and_what_to_set() -> None:
    text = README.read_text()
    assert "## Run several nodes" in text
    section = text.split("## Run several nodes", 1)[1].split("\n## ", 1)[0]
    assert "docker/compose.yaml" in section
    for name in REQUIRED_VARIABLES:
        if f"${{{name}:?" in COMPOSE_FILE.read_text():
            assert name in section, f"the README does not say to set {name}"


@pytest.mark.parametrize("script", ["smoke.sh"])
def test_the_smoke_script_is_valid_shell(script: str) -> None:
    subprocess.run(["bash", "-n", str(DOCKER / script)], check=True, timeout=30)
