"""Which login ingest uses, and secrets from the environment or from files outside the
repository (no services; the roles' privileges are in test_roles_and_audit.py)."""

import logging
import re

import pytest

from ingest.store.roles import INGEST_ROLE, READER_ROLE, configured_logins, ingest_url
from twin.app.cli import main
from twin.core.settings import PROJECT_DIR, ConfigError, allow_superuser, env_secret

OWNER = "postgresql://twin:test-owner-pw@db.example:5432/twin?sslmode=require"


def test_with_its_password_ingest_logs_in_as_twin_ingest_at_the_owners_database():
    url = ingest_url(None, OWNER, env={"TWIN_INGEST_PASSWORD": "test in/gest"})
    assert url == "postgresql://twin_ingest:test%20in%2Fgest@db.example:5432/twin?sslmode=require"


def test_an_explicit_ingest_url_wins_but_must_name_the_same_database():
    mine = "postgresql://twin_ingest:pw@pooler.example:6432/twin"
    assert ingest_url(mine, OWNER, env={"TWIN_INGEST_PASSWORD": "other"}) == mine
    assert ingest_url(mine, None, env={}) == mine  # ingest needs no owner URL at all
    with pytest.raises(ConfigError, match="--ingest-database / TWIN_INGEST_DATABASE_URL"):
        ingest_url("postgresql://twin_ingest:pw@db.example:5432/staging", OWNER, env={})
    with pytest.raises(ConfigError, match=re.escape("mysql://twin_ingest:***@")):
        ingest_url("mysql://twin_ingest:pw@db.example/twin", None, env={})


def test_without_a_login_of_its_own_ingest_falls_back_to_the_owner_url_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, "ingest.store.roles"):
        assert ingest_url(None, OWNER, env={}) == OWNER
    assert "acts as twin_ingest through SET ROLE" in caplog.text
    assert "test-owner-pw" not in caplog.text


def test_a_password_file_outside_the_repository(tmp_path):
    secret = tmp_path / "ingest.secret"
    secret.write_text("s3cret-from-file\n")
    env = {"TWIN_INGEST_PASSWORD_FILE": str(secret)}
    assert env_secret("TWIN_INGEST_PASSWORD", env) == (
        "s3cret-from-file",
        f"TWIN_INGEST_PASSWORD_FILE ({secret})",
    )
    assert configured_logins(env) == {INGEST_ROLE: env_secret("TWIN_INGEST_PASSWORD", env)}
    assert configured_logins({"TWIN_READER_PASSWORD": "r"}) == {
        READER_ROLE: ("r", "TWIN_READER_PASSWORD")
    }
    assert env_secret("TWIN_INGEST_PASSWORD", {}) is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TWIN_INGEST_PASSWORD_FILE": str(PROJECT_DIR / "README.md")}, "outside the repository"),
        ({"TWIN_INGEST_PASSWORD_FILE": "/nonexistent/ingest.secret"}, "a readable file"),
        ({"TWIN_INGEST_PASSWORD": "a", "TWIN_INGEST_PASSWORD_FILE": "/x"}, "one of the two"),
    ],
)
def test_bad_password_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message) as caught:
        env_secret("TWIN_INGEST_PASSWORD", env)
    assert "TWIN_INGEST_PASSWORD" in str(caught.value)


def test_allow_superuser_takes_1_or_0_only():
    assert allow_superuser({"TWIN_ALLOW_SUPERUSER": "1"}) is True
    assert allow_superuser({}) is False and allow_superuser({"TWIN_ALLOW_SUPERUSER": "0"}) is False
    with pytest.raises(ConfigError, match="TWIN_ALLOW_SUPERUSER"):
        allow_superuser({"TWIN_ALLOW_SUPERUSER": "yes"})


def test_config_show_masks_ingest_credentials(capsys, monkeypatch, tmp_path):
    secret = tmp_path / "ingest.secret"
    secret.write_text("file-secret\n")
    monkeypatch.setenv("TWIN_INGEST_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("TWIN_INGEST_DATABASE_URL", "postgresql://twin_ingest:url-secret@h:5/db")
    monkeypatch.delenv("TWIN_INGEST_PASSWORD", raising=False)
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "postgresql://twin_ingest:***@h:5/db" in out
    assert "url-secret" not in out and "file-secret" not in out
    row = next(line for line in out.splitlines() if "TWIN_INGEST_PASSWORD" in line)
    assert "***" in row and "environment" in row
