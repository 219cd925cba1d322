"""docker-compose.yml cannot run here; check that it agrees with the code's settings."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from twin.core import settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _published_port(service: str) -> int:
    return int(SERVICES[service]["ports"][0].split(":")[-1])


def test_all_services_present():
    assert {"kafka", "timescaledb", "grafana", "twin", "migrate", "ingest"} <= set(SERVICES)


def _url(service: str, variable: str):
    """The parts of a service's database URL, its ``${VAR:?...}`` password replaced."""
    url = SERVICES[service]["environment"][variable]
    assert settings.database_url(url) == url
    parts = urlsplit(re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "pw", url))
    assert parts.hostname == "timescaledb" and parts.port == _published_port("timescaledb")
    assert parts.path.lstrip("/") == SERVICES["timescaledb"]["environment"]["POSTGRES_DB"]
    return parts


def test_twin_and_ingest_use_the_settings_variables_and_ports():
    known = {
        settings.ENV_KAFKA,
        settings.ENV_DATABASE,
        settings.ENV_INGEST_DATABASE,
        settings.ENV_INGEST_PASSWORD,
        settings.ENV_TOPIC_PREFIX,
        settings.ENV_READER_PASSWORD,
    }
    for name in ("twin", "ingest", "migrate"):
        assert set(SERVICES[name]["environment"]) <= known, f"{name}: variables the code ignores"
    for name in ("twin", "ingest"):
        env = SERVICES[name]["environment"]
        host, port = env[settings.ENV_KAFKA].split(":")
        assert host == "kafka" and int(port) == _published_port("kafka")
        assert settings.kafka_bootstrap(env[settings.ENV_KAFKA]) == env[settings.ENV_KAFKA]
    owner = _url("migrate", settings.ENV_DATABASE)
    assert owner.username == SERVICES["timescaledb"]["environment"]["POSTGRES_USER"]


def test_ingest_logs_in_as_twin_ingest_after_migrate_and_never_holds_the_owner_password():
    ingest = SERVICES["ingest"]
    assert _url("ingest", settings.ENV_INGEST_DATABASE).username == "twin_ingest"
    assert settings.ENV_DATABASE not in ingest["environment"]
    assert "POSTGRES_PASSWORD" not in yaml.safe_dump(ingest)
    assert ingest["command"] == ["twin", "ingest"]
    # After migrate (which gives twin_ingest its login), by way of the fleet's registration.
    assert ingest["depends_on"]["fleet"]["condition"] == "service_completed_successfully"
    assert (
        SERVICES["fleet"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    )
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["twin", "db", "migrate"]
    password = migrate["environment"][settings.ENV_INGEST_PASSWORD]
    assert password.startswith("${" + settings.ENV_INGEST_PASSWORD + ":?")
    assert (
        "${" + settings.ENV_INGEST_PASSWORD + ":?"
        in ingest["environment"][settings.ENV_INGEST_DATABASE]
    )


def test_ports_bind_to_loopback_and_kafka_advertises_its_service_name():
    for name in ("kafka", "timescaledb", "grafana"):
        assert SERVICES[name]["ports"][0].startswith("127.0.0.1:")
    assert (
        SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    )
    assert SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_no_default_passwords():
    tsdb = SERVICES["timescaledb"]["environment"]["POSTGRES_PASSWORD"]
    grafana = SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert tsdb.startswith("${POSTGRES_PASSWORD:?") and grafana.startswith("${GRAFANA_ADMIN")


def test_grafana_reads_as_the_reader_role_and_gets_the_dashboards():
    grafana = SERVICES["grafana"]
    assert grafana["environment"]["TWIN_GRAFANA_DB_USER"] == "twin_reader"
    password = grafana["environment"]["TWIN_GRAFANA_DB_PASSWORD"]
    assert password.startswith("${" + settings.ENV_READER_PASSWORD + ":?")
    assert settings.ENV_READER_PASSWORD in SERVICES["migrate"]["environment"]  # its login
    provider = yaml.safe_load(
        (ROOT / "grafana" / "provisioning" / "dashboards" / "twin.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts[path] == "./grafana/dashboards" and (ROOT / "grafana" / "dashboards").is_dir()


def test_grafana_provisioning_is_mounted_and_names_the_variables_it_gets():
    volume = SERVICES["grafana"]["volumes"][0]
    source = volume.split(":")[0]
    assert (ROOT / source / "datasources").is_dir()
    datasource = yaml.safe_load((ROOT / source / "datasources" / "twin.yaml").read_text())
    text = yaml.safe_dump(datasource)
    for variable in ("TWIN_GRAFANA_DB_HOST", "TWIN_GRAFANA_DB_USER", "TWIN_GRAFANA_DB_PASSWORD",
                     "TWIN_GRAFANA_DB_SSLMODE"):  # fmt: skip
        assert f"${variable}" in text and variable in SERVICES["grafana"]["environment"]


def test_images_build_from_the_project():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert SERVICES["twin"]["build"] == SERVICES["ingest"]["build"] == "."
    assert "pip install" in dockerfile and "USER twin" in dockerfile
    assert SERVICES["twin"]["command"][0] == "twin"


def _after(service: str) -> dict[str, str]:
    return {name: c["condition"] for name, c in SERVICES[service].get("depends_on", {}).items()}


def test_the_fleet_the_twin_flies_is_registered_before_the_twin_and_ingest_start():
    """Ingest dead-letters telemetry of unregistered satellites: ``fleet`` runs ``twin db
    fleet`` with the twin's own fleet options, after migrate, before both."""
    from twin.app.cli import build_parser

    parser = build_parser()
    fleet = parser.parse_args(SERVICES["fleet"]["command"][1:])
    twin = parser.parse_args(SERVICES["twin"]["command"][1:])
    assert (fleet.command, fleet.db_command) == ("db", "fleet")
    for option in ("walker", "preset", "elements", "altitude_km", "inclination_deg"):
        assert getattr(fleet, option, None) == getattr(twin, option, None), option
    assert _after("fleet") == {"migrate": "service_completed_successfully"}
    assert _after("twin")["fleet"] == _after("ingest")["fleet"] == "service_completed_successfully"
    assert "TWIN_DATABASE_URL" in SERVICES["fleet"]["environment"]


def test_a_restarted_twin_resumes_its_run():
    from twin.app.cli import build_parser

    twin = build_parser().parse_args(SERVICES["twin"]["command"][1:])
    assert twin.run_id and SERVICES["twin"]["restart"] == "unless-stopped"


def test_grafana_runs_the_version_its_dashboards_are_validated_against():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sdk = next(r for r in project["project"]["optional-dependencies"]["test"]
               if r.startswith("grafana-foundation-sdk"))  # fmt: skip
    validated = sdk.split("!")[1]  # "<epoch>!<grafana version>"
    image = SERVICES["grafana"]["image"]
    assert image.split(":")[1] == validated, (image, sdk)
    assert SERVICES["grafana"]["environment"]["TWIN_GRAFANA_DB_SSLMODE"].startswith(
        "${TWIN_GRAFANA_DB_SSLMODE:-"
    )


def test_the_compose_file_follows_the_compose_specification():
    import json

    from jsonschema import Draft7Validator

    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.schema.json").read_text())
    assert schema["title"] == "Compose Specification"
    validator = Draft7Validator(schema)
    assert [e.message for e in validator.iter_errors(COMPOSE)] == []
    misspelt = {**COMPOSE, "services": {**SERVICES, "twin": {**SERVICES["twin"], "restrat": "no"}}}
    assert list(validator.iter_errors(misspelt))  # the schema does catch a wrong key
