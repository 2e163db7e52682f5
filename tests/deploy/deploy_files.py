"""Readers for the deployment files (compose, .env.example, Dockerfile, .dockerignore, instance
yaml) and for the environment variables the Python code understands, used by the deploy tests.

Nothing here can run Docker: the files are checked against the code that will read them.
"""

import ast
import importlib
import importlib.metadata
import posixpath
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from api_shim.core.config import Settings as ShimSettings
from esl_dagster.pipeline.settings import settings_table
from tests.conftest import REPO_ROOT

DOCKER_DIR = REPO_ROOT / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
PRODUCTION_INSTANCE = REPO_ROOT / "dagster.yaml"
DEPLOY_DIR = REPO_ROOT / "deploy"

# Variables read by Dagster itself in every process (not by our settings or instance yaml).
DAGSTER_PROCESS_VARIABLES = frozenset({"DAGSTER_HOME", "DAGSTER_CURRENT_IMAGE"})
# Where the code location reads the environment (the engine below esl_dagster/pipeline/ may not).
CODE_LOCATION_SOURCES = (
    REPO_ROOT / "esl_dagster" / "definitions.py",
    REPO_ROOT / "esl_dagster" / "defs",
    REPO_ROOT / "esl_dagster" / "resources",
)
_ENV_READERS = frozenset({"get", "getenv", "optional_env", "_env_or", "EnvVar"})

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; `$$` escapes.
_INTERPOLATION = re.compile(
    r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


# ##### compose


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_compose() -> dict[str, Any]:
    compose = load_yaml(COMPOSE_FILE)
    assert isinstance(compose, dict)
    return compose


def strings_in(node: object) -> Iterator[str]:
    """Every string (keys and values) in a parsed YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


def interpolated_variables(compose: Mapping[str, Any]) -> set[str]:
    return {
        match["name"] for text in strings_in(compose) for match in _INTERPOLATION.finditer(text)
    }


def interpolation_defaults(compose: Mapping[str, Any]) -> dict[str, set[str]]:
    """For each variable, the ``:-`` defaults written for it in the compose file."""
    found: dict[str, set[str]] = {}
    for text in strings_in(compose):
        for match in _INTERPOLATION.finditer(text):
            if match["op"] == ":-":
                found.setdefault(match["name"], set()).add(match["arg"])
    return found


class MissingVariable(Exception):
    """A ``${NAME:?message}`` whose variable is unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's substitution rules for the forms used in compose.yml, then ``$$`` -> ``$``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        value = env.get(name)
        unset_or_empty = not value
        if op == ":-":
            return arg if unset_or_empty else str(value)
        if op == "-":
            return arg if value is None else value
        if op in (":?", "?") and (unset_or_empty if op == ":?" else value is None):
            raise MissingVariable(f"{name}: {arg}")
        return value or ""

    return _INTERPOLATION.sub(substitute, text).replace("$$", "$")


def resolve(node: object, env: Mapping[str, str]) -> Any:
    """A parsed YAML tree with every string interpolated."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, Mapping):
        return {resolve(key, env): resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    return node


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping (compose accepts a list of KEY=VALUE too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).split("=", 1) for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


@dataclass(frozen=True)
class PortMapping:
    host_ip: str
    host_port: int
    container_port: int


def port_mappings(service: Mapping[str, Any]) -> list[PortMapping]:
    """``ip:host:container`` entries of an interpolated service (the only form compose.yml uses)."""
    mappings = []
    for entry in service.get("ports", []):
        host_ip, host_port, container_port = str(entry).rsplit(":", 2)
        mappings.append(PortMapping(host_ip, int(host_port), int(container_port)))
    return mappings


# ##### .env.example


@dataclass(frozen=True)
class EnvEntry:
    name: str
    value: str
    comment: str


def read_env_example(path: Path = ENV_EXAMPLE) -> dict[str, EnvEntry]:
    """``NAME=value`` lines with the comment lines directly above each (empty if none)."""
    entries: dict[str, EnvEntry] = {}
    comment: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            comment.append(line.lstrip("#").strip())
            continue
        if not line:
            comment = []
            continue
        name, _, value = line.partition("=")
        assert name not in entries, f"{name} is listed twice in {path.name}"
        entries[name] = EnvEntry(name, value, " ".join(comment))
        comment = []
    return entries


# ##### settings


def engine_setting_variables() -> set[str]:
    """Every variable ``esl_dagster.pipeline.settings.Settings`` reads (preferred names and aliases)."""
    return {
        name.strip().upper()
        for variables, _, _ in settings_table()
        for name in variables.split("/")
    }


def shim_setting_variables() -> set[str]:
    """The environment variables of the shim's ``Settings``: the upper-case aliases of its fields
    (the lower-case ones are the field names, accepted for construction in code)."""
    names: set[str] = set()
    for field in ShimSettings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
        names.update(str(choice) for choice in choices if str(choice).isupper())
    return names


def instance_env_references(node: object) -> set[str]:
    """The ``{env: NAME}`` values of a Dagster instance yaml."""
    found: set[str] = set()
    if isinstance(node, Mapping):
        if set(node) == {"env"} and isinstance(node["env"], str):
            return {node["env"]}
        for value in node.values():
            found |= instance_env_references(value)
    elif isinstance(node, list):
        for item in node:
            found |= instance_env_references(item)
    return found


def _python_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def code_location_variables() -> set[str]:
    """Variables the Dagster code location reads itself: the string literal first argument of
    ``os.environ.get``/``os.getenv``/``optional_env``/``_env_or``/``dg.EnvVar`` calls and
    ``os.environ[...]`` subscripts in ``esl_dagster`` outside the engine."""
    names: set[str] = set()
    for path in _python_files(CODE_LOCATION_SOURCES):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                first = node.args[0]
                if called in _ENV_READERS and isinstance(first, ast.Constant):
                    if isinstance(first.value, str) and first.value.isupper():
                        names.add(first.value)
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                    names.add(node.slice.value)
    return names


def engine_known_variables() -> set[str]:
    """Everything an engine container (code server, webserver, daemon, run worker) understands."""
    return (
        engine_setting_variables()
        | code_location_variables()
        | instance_env_references(load_yaml(PRODUCTION_INSTANCE))
        | DAGSTER_PROCESS_VARIABLES
    )


@dataclass(frozen=True)
class PostgresTarget:
    scheme: str
    user: str
    password: str
    host: str
    port: int
    database: str


def postgres_target(instance: Mapping[str, Any], env: Mapping[str, str]) -> PostgresTarget:
    """Where an instance yaml's Postgres storage connects, given the process environment.

    Handles both forms dagster-postgres accepts: ``postgres_url`` and ``postgres_db`` fields.
    """

    def value(node: object) -> str:
        if isinstance(node, Mapping):
            return env[node["env"]]
        return str(node)

    storage = instance["storage"]["postgres"]
    if "postgres_url" in storage:
        url = urllib.parse.urlsplit(value(storage["postgres_url"]))
        return PostgresTarget(
            url.scheme,
            urllib.parse.unquote(url.username or ""),
            urllib.parse.unquote(url.password or ""),
            url.hostname or "",
            url.port or 5432,
            url.path.lstrip("/"),
        )
    db = storage["postgres_db"]
    return PostgresTarget(
        db.get("scheme", "postgresql"),
        value(db["username"]),
        value(db["password"]),
        value(db["hostname"]),
        int(value(db.get("port", 5432))),
        value(db["db_name"]),
    )


# ##### commands


def console_command(script: str) -> click.Command:
    """The click command behind an installed console script (``dagster``, ``uvicorn``, ...).

    Dagster's entry points are plain ``main()`` functions calling the module's ``cli`` group.
    """
    (entry_point,) = importlib.metadata.entry_points(group="console_scripts", name=script)
    loaded = entry_point.load()
    if isinstance(loaded, click.Command):
        return loaded
    command = importlib.import_module(entry_point.module).cli
    assert isinstance(command, click.Command)
    return command


@dataclass(frozen=True)
class ParsedCommand:
    path: tuple[str, ...]
    params: dict[str, Any]


def parse_command(argv: list[str]) -> ParsedCommand:
    """Parse ``argv`` with the real CLI (without running it); a bad option raises click's error."""
    command = console_command(argv[0])
    path = [argv[0]]
    args = list(argv[1:])
    while isinstance(command, click.Group):
        assert args and not args[0].startswith("-"), f"{argv}: expected a subcommand"
        sub = command.get_command(click.Context(command, info_name=path[-1]), args[0])
        assert sub is not None, f"{argv}: unknown subcommand {args[0]!r}"
        command, args = sub, args[1:]
        path.append(command.name or "")
    context = command.make_context(" ".join(path), args)
    return ParsedCommand(tuple(path), dict(context.params))


# ##### Dockerfile and .dockerignore


@dataclass(frozen=True)
class Dockerfile:
    base_image: str
    env: dict[str, str]
    copies: dict[str, str]  # container path -> build-context path
    user: str
    cmd: list[str]
    run_lines: list[str]


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    logical = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, rest = logical.strip().partition(" ")
        yield keyword.upper(), rest.strip()
        logical = ""


def _expand(text: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables[m[1] or m[2]], text)


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    copies: dict[str, str] = {}
    base, user, workdir = "", "root", "/"
    cmd: list[str] = []
    run_lines: list[str] = []
    for keyword, rest in _instructions(path.read_text(encoding="utf-8")):
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            base = _expand(rest.split()[0], args)
        elif keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", rest):
                env[name] = _expand(value, env)
        elif keyword == "WORKDIR":
            workdir = _expand(rest, env)
        elif keyword == "COPY":
            assert "--from" not in rest, "single-stage image expected"
            *sources, destination = rest.split()
            destination = _expand(destination, env)
            into_folder = destination.endswith("/")
            destination = posixpath.normpath(posixpath.join(workdir, destination))
            for source in sources:
                target = posixpath.join(destination, source) if into_folder else destination
                copies[target] = source.rstrip("/")
        elif keyword == "USER":
            user = rest
        elif keyword == "CMD":
            cmd = yaml.safe_load(rest)
        elif keyword == "RUN":
            run_lines.append(rest)
    return Dockerfile(base, env, copies, user, cmd, run_lines)


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out += "(?:.*/)?"
            index += 3
        elif pattern.startswith("**", index):
            out += ".*"
            index += 2
        elif pattern[index] == "*":
            out += "[^/]*"
            index += 1
        elif pattern[index] == "?":
            out += "[^/]"
            index += 1
        else:
            out += re.escape(pattern[index])
            index += 1
    return re.compile(out)


def dockerignore_excludes(relative_path: str, path: Path = DOCKERIGNORE) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parent folders) wins."""
    parts = relative_path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        regex = _dockerignore_regex(line.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def image_path_to_repo(container_path: str, dockerfile: Dockerfile) -> Path:
    """The repository file that ends up at ``container_path`` in the image (via a COPY)."""
    for destination, source in dockerfile.copies.items():
        if container_path == destination or container_path.startswith(destination + "/"):
            return REPO_ROOT / (source + container_path[len(destination) :])
    raise AssertionError(f"{container_path} is not copied into the image by the Dockerfile")
