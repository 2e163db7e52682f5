"""docker/compose.yml, docker/.env.example and docker/Dockerfile against the Python code.

Docker cannot run here, so every service's command is parsed by the real CLI it calls, every
environment variable must be one that the process's settings read, every port must agree with the
settings' defaults and the workspace, and every file the image needs must exist and reach the
build context.
"""

import importlib
from typing import Any

import pytest
from fastapi import FastAPI

from api_shim.core.config import Settings as ShimSettings
from esl_dagster.pipeline.settings import Settings, load_settings
from tests.conftest import REPO_ROOT
from tests.deploy.deploy_files import (
    COMPOSE_FILE,
    DOCKERFILE,
    ENV_EXAMPLE,
    MissingVariable,
    ParsedCommand,
    dockerignore_excludes,
    engine_known_variables,
    engine_setting_variables,
    environment_of,
    image_path_to_repo,
    instance_env_references,
    interpolate,
    interpolated_variables,
    interpolation_defaults,
    load_compose,
    load_yaml,
    parse_command,
    port_mappings,
    postgres_target,
    read_dockerfile,
    read_env_example,
    resolve,
    shim_setting_variables,
)

ENGINE_SERVICES = ("code-server", "webserver", "daemon")
IMAGE_SERVICES = (*ENGINE_SERVICES, "api")
# The values an operator must fill in before `docker compose up` (`${VAR:?...}` in compose.yml).
REQUIRED_SECRETS = {"PG_PASSWORD": "pg-secret", "MINIO_SECRET_KEY": "minio-secret"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    values = {name: entry.value for name, entry in read_env_example().items()}
    return {**values, **REQUIRED_SECRETS}


@pytest.fixture(scope="module")
def resolved(compose: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    """The compose file as `docker compose config` would see it with `.env` = `.env.example`."""
    result = resolve(compose, example_env)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def services(resolved: dict[str, Any]) -> dict[str, Any]:
    return dict(resolved["services"])


def command_of(service: dict[str, Any]) -> ParsedCommand:
    """The service's command parsed by its CLI; image paths are mapped to the repository files
    the Dockerfile copies there, so path options are checked for existence too."""
    dockerfile = read_dockerfile()
    argv = [str(part) for part in service["command"]]
    mapped = [
        str(image_path_to_repo(part, dockerfile)) if part.startswith("/opt/dagster/") else part
        for part in argv
    ]
    return parse_command(mapped)


# ##### shape


def test_compose_has_every_service_of_the_deployment(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "postgres",
        "minio",
        "minio-setup",
        "code-server",
        "webserver",
        "daemon",
        "api",
    }


def test_python_services_run_the_image_built_from_the_dockerfile(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    images = {services[name]["image"] for name in IMAGE_SERVICES}
    assert images == {"esl-dagster:latest"}
    for name in IMAGE_SERVICES:
        build = services[name]["build"]
        assert (
            COMPOSE_FILE.parent / build["context"] / build["dockerfile"]
        ).resolve() == DOCKERFILE
        assert services[name]["init"] is True, f"{name}: signals need an init process (P5)"
    assert interpolation_defaults(compose)["ESL_IMAGE"] == {"esl-dagster:latest"}


def test_required_secrets_stop_compose_when_missing(compose: dict[str, Any]) -> None:
    env = {name: entry.value for name, entry in read_env_example().items()}
    with pytest.raises(MissingVariable, match="PG_PASSWORD"):
        resolve(compose, env)
    with pytest.raises(MissingVariable, match="MINIO_SECRET_KEY"):
        resolve(compose, {**env, "PG_PASSWORD": "x"})


def test_dependencies_wait_for_health(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
            else:
                assert rule["condition"] == "service_completed_successfully"
                assert services[target]["restart"] == "no"
    assert services["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert set(services["code-server"]["depends_on"]) == {"postgres", "minio-setup"}
    assert set(services["webserver"]["depends_on"]) == {"postgres", "code-server"}
    assert set(services["daemon"]["depends_on"]) == {"postgres", "code-server"}
    assert set(services["api"]["depends_on"]) == {"webserver"}


def test_minio_setup_creates_the_engine_bucket(services: dict[str, Any]) -> None:
    setup = services["minio-setup"]
    script = setup["entrypoint"][-1]
    assert 'mc mb --ignore-existing "esl/$BUCKET"' in script
    assert setup["environment"]["BUCKET"] == services["code-server"]["environment"]["MINIO_BUCKET"]
    assert setup["image"] == services["minio"]["image"]
    creds = services["minio"]["environment"]
    engine = services["code-server"]["environment"]
    assert (creds["MINIO_ROOT_USER"], creds["MINIO_ROOT_PASSWORD"]) == (
        engine["MINIO_ACCESS_KEY"],
        engine["MINIO_SECRET_KEY"],
    )
    assert setup["environment"]["MINIO_ROOT_PASSWORD"] == creds["MINIO_ROOT_PASSWORD"]


# ##### environment against the settings


@pytest.mark.parametrize("name", ENGINE_SERVICES)
def test_engine_environment_is_understood(compose: dict[str, Any], name: str) -> None:
    unknown = set(environment_of(compose["services"][name])) - engine_known_variables()
    assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_api_environment_is_understood_by_the_shim_settings(compose: dict[str, Any]) -> None:
    unknown = set(environment_of(compose["services"]["api"])) - shim_setting_variables()
    assert not unknown, f"api sets variables the shim does not read: {sorted(unknown)}"


def test_engine_values_are_valid_settings(services: dict[str, Any]) -> None:
    """The code server's environment builds a Settings without problems, with MinIO on and
    manifests going to its bucket (the seed's behaviour)."""
    env = environment_of(services["code-server"])
    values = {
        key: value for key, value in env.items() if value and key in engine_setting_variables()
    }
    settings = load_settings(env_file=None, **values)
    assert settings.problems() == []
    assert settings.minio.enabled and settings.s3 is not None
    assert settings.s3.endpoint_url == "http://minio:9000"
    assert settings.effective_manifest_store == "s3"
    assert settings.effective_manifest_bucket == env["MINIO_BUCKET"]


@pytest.mark.parametrize("name", ENGINE_SERVICES)
def test_engine_services_reach_the_compose_postgres_with_psycopg2(
    services: dict[str, Any], name: str
) -> None:
    instance = image_instance()
    env = environment_of(services[name])
    missing = {var for var in instance_env_references(instance) if var not in env}
    assert not missing, f"{name} lacks the instance's variables {sorted(missing)}"
    target = postgres_target(instance, env)
    postgres = services["postgres"]["environment"]
    assert target.scheme == "postgresql+psycopg2"  # design F1
    assert (target.user, target.password, target.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    assert target.password == REQUIRED_SECRETS["PG_PASSWORD"]
    assert (target.host, target.port) == ("postgres", Settings().postgres.port)


def test_env_example_covers_every_compose_variable(compose: dict[str, Any]) -> None:
    example = read_env_example()
    missing = interpolated_variables(compose) - set(example)
    assert not missing, f"{ENV_EXAMPLE.name} lacks {sorted(missing)}"


def test_env_example_lists_only_used_and_documented_variables(compose: dict[str, Any]) -> None:
    used = interpolated_variables(compose) | variables_reaching_the_engine(compose)
    for name, entry in read_env_example().items():
        assert name in used, f"{name} in {ENV_EXAMPLE.name} reaches no service"
        assert entry.comment, f"{name} in {ENV_EXAMPLE.name} has no comment"


def variables_reaching_the_engine(compose: dict[str, Any]) -> set[str]:
    """Variables the code server gets through its env_file (.env) and its Settings read."""
    env_files = compose["services"]["code-server"]["env_file"]
    assert [entry["path"] for entry in env_files] == [".env"]
    return engine_known_variables()


def test_env_example_defaults_agree_with_compose_defaults(compose: dict[str, Any]) -> None:
    example = read_env_example()
    for name, defaults in interpolation_defaults(compose).items():
        assert defaults == {example[name].value}, f"{name}: compose {defaults} vs .env.example"


def test_secrets_have_no_usable_example_value() -> None:
    example = read_env_example()
    for name in (*REQUIRED_SECRETS, "NOTION_TOKEN", "ELEVENLABS_API_KEY", "ESL_API_KEYS"):
        assert example[name].value == "", f"{name} must not have an example value"


# ##### ports


def test_published_ports_bind_to_loopback_by_default(services: dict[str, Any]) -> None:
    published = {name: port_mappings(service) for name, service in services.items()}
    assert {name for name, ports in published.items() if ports} == {"webserver", "api", "minio"}
    for name, ports in published.items():
        for port in ports:
            assert port.host_ip == "127.0.0.1", f"{name} publishes on {port.host_ip}"


def test_bind_address_default_is_loopback_even_without_env_file(compose: dict[str, Any]) -> None:
    for entry in compose["services"]["api"]["ports"]:
        ip = entry.split(":")[0] + ":" + entry.split(":")[1]
        assert interpolate(ip, {}).startswith("127.0.0.1")


def test_api_port_matches_the_settings(services: dict[str, Any]) -> None:
    command = command_of(services["api"])
    assert command.path == ("uvicorn",)
    shim_port = ShimSettings.model_fields["port"].default
    assert command.params["port"] == shim_port == Settings().api.http_port
    (mapping,) = port_mappings(services["api"])
    assert mapping.container_port == command.params["port"]
    assert mapping.host_port == Settings().api.http_port  # BATCH_BACKEND_HTTP_PORT
    assert f":{shim_port}/healthz" in services["api"]["healthcheck"]["test"][-1]


def test_webserver_port_matches_the_shim_graphql_url(services: dict[str, Any]) -> None:
    command = command_of(services["webserver"])
    assert command.path == ("dagster-webserver",)
    port = command.params["port"]
    (mapping,) = port_mappings(services["webserver"])
    assert mapping.container_port == port
    shim_default_url = ShimSettings.model_fields["dagster_graphql_url"].default
    assert shim_default_url.endswith(f":{port}/graphql")
    url = services["api"]["environment"]["ESL_DAGSTER_GRAPHQL_URL"]
    assert url == f"http://webserver:{port}/graphql"
    assert f":{port}/server_info" in services["webserver"]["healthcheck"]["test"][-1]


def test_storage_ports_match_the_settings(services: dict[str, Any]) -> None:
    engine = services["code-server"]["environment"]
    assert int(engine["MINIO_PORT"]) == Settings().minio.port
    assert f":{engine['MINIO_PORT']}" in services["minio"]["command"]
    assert engine["MINIO_BUCKET"] == Settings().minio.bucket


# ##### commands


def test_code_server_command_serves_the_definitions(services: dict[str, Any]) -> None:
    command = command_of(services["code-server"])
    assert command.path == ("dagster", "code-server", "start")
    assert command.params["host"] == "0.0.0.0"
    module = importlib.import_module(command.params["module_name"])
    assert module.__name__ == "esl_dagster.definitions" and hasattr(module, "defs")
    assert command.params["location_name"] == ShimSettings.model_fields["dagster_location"].default
    health = services["code-server"]["healthcheck"]["test"][1:]
    assert parse_command(health).params["port"] == command.params["port"]


@pytest.mark.parametrize("name", ["webserver", "daemon"])
def test_webserver_and_daemon_use_the_grpc_workspace(services: dict[str, Any], name: str) -> None:
    command = command_of(services[name])
    (workspace_path,) = command.params["workspace"]
    workspace = load_yaml(REPO_ROOT / workspace_path)
    (entry,) = workspace["load_from"]
    code_server = command_of(services["code-server"])
    assert entry["grpc_server"] == {
        "host": "code-server",
        "port": code_server.params["port"],
        "location_name": code_server.params["location_name"],
    }


def test_daemon_health_check_is_a_daemon_command(services: dict[str, Any]) -> None:
    test = services["daemon"]["healthcheck"]["test"]
    assert parse_command(test[1:]).path == ("dagster-daemon", "liveness-check")


def test_api_command_serves_the_shim_app(services: dict[str, Any]) -> None:
    command = command_of(services["api"])
    module_name, _, attribute = command.params["app"].partition(":")
    app = getattr(importlib.import_module(module_name), attribute)
    assert isinstance(app, FastAPI)
    assert command.params["host"] == "0.0.0.0"


def test_dockerfile_default_command_is_the_code_server(services: dict[str, Any]) -> None:
    assert read_dockerfile().cmd == [str(part) for part in services["code-server"]["command"]]


# ##### volumes


def test_lesson_folder_is_shared_at_the_configured_path(
    resolved: dict[str, Any], services: dict[str, Any]
) -> None:
    """The shim sends absolute lesson paths, so both containers mount the lessons at one path,
    which is the sensor's folder and the shim's lesson root."""
    mounts = {
        name: dict(entry.rsplit(":", 1)[::-1] for entry in services[name]["volumes"])
        for name in ("code-server", "api")
    }
    folder = services["code-server"]["environment"]["ESL_LESSON_FOLDERS"]
    assert services["api"]["environment"]["ESL_LESSON_ROOTS"] == folder
    assert mounts["code-server"][folder] == mounts["api"][folder] == "lessons"
    declared = set(resolved["volumes"])
    for service in services.values():
        for entry in service.get("volumes", []):
            source = entry.split(":")[0]
            assert source.startswith((".", "/")) or source in declared, f"undeclared {source}"


def test_dagster_storage_is_shared_by_the_dagster_processes(services: dict[str, Any]) -> None:
    """Run workers (in the code server) write the instance's local artifacts (step outputs that a
    re-execution reads) where every Dagster process finds them."""
    home = read_dockerfile().env["DAGSTER_HOME"]
    for name in ENGINE_SERVICES:
        assert f"dagster-storage:{home}/storage" in services[name]["volumes"]


# ##### image


def test_dockerfile_copy_sources_exist_and_reach_the_build_context() -> None:
    dockerfile = read_dockerfile()
    assert dockerfile.copies
    for destination, source in dockerfile.copies.items():
        assert (REPO_ROOT / source).exists(), f"COPY {source} -> {destination}: missing"
        assert not dockerignore_excludes(source), f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    for path in (".venv/bin/python", ".env", "docker/.env", ".dagster_home/dagster.yaml", "var/x"):
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker daemon"


def test_image_is_python_311_slim_non_root_with_the_pinned_install() -> None:
    dockerfile = read_dockerfile()
    assert dockerfile.base_image.startswith("python:3.11-slim")
    assert dockerfile.user not in ("", "root", "0")
    assert dockerfile.env["DAGSTER_HOME"] == "/opt/dagster/home"
    installs = [line for line in dockerfile.run_lines if "pip install" in line]
    assert installs and all("-c constraints.txt" in line for line in installs)


def image_instance() -> dict[str, Any]:
    """The dagster.yaml the image carries in $DAGSTER_HOME."""
    dockerfile = read_dockerfile()
    instance = load_yaml(
        image_path_to_repo(f"{dockerfile.env['DAGSTER_HOME']}/dagster.yaml", dockerfile)
    )
    assert isinstance(instance, dict)
    return instance


def test_image_dagster_yaml_is_the_production_postgres_instance() -> None:
    dockerfile = read_dockerfile()
    home = dockerfile.env["DAGSTER_HOME"]
    assert image_path_to_repo(f"{home}/dagster.yaml", dockerfile) == REPO_ROOT / "dagster.yaml"
    instance = image_instance()
    assert set(instance["storage"]) == {"postgres"}
    postgres_db = instance["storage"]["postgres"].get("postgres_db")
    if postgres_db is not None:
        assert postgres_db["scheme"] == "postgresql+psycopg2"  # design F1
    assert instance["run_launcher"]["class"] == "DefaultRunLauncher"
    assert image_path_to_repo(f"{home}/workspace.yaml", dockerfile).is_file()
