import pytest

from twin.app.cli import main
from twin.core.settings import ENV_DATABASE, ENV_KAFKA


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["run", "--kafka", "127.0.0.1:1", "--speed", "fast"], "--speed"),
        (["run", "--kafka", "127.0.0.1:1", "--walker", "12x3"], "--walker"),
        (["run", "--kafka", "127.0.0.1:1", "--walker", "12/5/1"], "planes"),
        (["run", "--kafka", "127.0.0.1:1", "--duration", "forever"], "--duration"),
        (["run", "--kafka", "127.0.0.1:1", "--start", "soon"], "start"),
        (["run", "--kafka", "no-port"], "--kafka"),
        (["run", "--kafka", "127.0.0.1:1", "--topic-prefix", "bad prefix"], "--topic-prefix"),
        (["ingest", "--kafka", "127.0.0.1:1", "--database", "mysql://x"], "--database"),
        # Sizes: a tick too fine, more ticks or satellites than memory holds; the bound is
        # in the message.
        (["run", "--kafka", "127.0.0.1:1", "--step", "1ns"], "at least 1ms"),
        (["run", "--kafka", "127.0.0.1:1", "--step", "1us"], "at least 1ms"),
        (
            ["run", "--kafka", "127.0.0.1:1", "--duration", "100000d", "--step", "1ms"],
            "ticks a run",
        ),
        (["run", "--kafka", "127.0.0.1:1", "--walker", "10000000/1/0"], "satellites (about"),
    ],
)
def test_bad_configuration_exits_2_naming_the_field(argv, field, capsys, monkeypatch):
    monkeypatch.delenv(ENV_KAFKA, raising=False)
    monkeypatch.delenv(ENV_DATABASE, raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and field in err


def test_missing_kafka_says_how_to_get_one(capsys, monkeypatch):
    monkeypatch.delenv(ENV_KAFKA, raising=False)
    assert main(["topics", "ensure"]) == 2
    assert "TWIN_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_database_password_is_masked_in_errors(capsys):
    assert main(["db", "migrate", "--database", "mysql://u:secret@h/db"]) == 2
    err = capsys.readouterr().err
    assert "secret" not in err and "***" in err


def test_conflicting_fleet_options_are_rejected(capsys):
    argv = ["run", "--kafka", "127.0.0.1:1", "--walker", "4/2/1", "--elements", "x.tle"]
    assert main(argv) == 2
    assert "--walker / --elements" in capsys.readouterr().err


def test_unknown_preset_and_bad_elements_file_exit_2(capsys, tmp_path):
    assert main(["run", "--kafka", "127.0.0.1:1", "--preset", "nope"]) == 2
    assert "available: starcloud-1" in capsys.readouterr().err
    bad = tmp_path / "bad.tle"
    bad.write_text("no elements here\n")
    assert main(["run", "--kafka", "127.0.0.1:1", "--elements", str(bad)]) == 2
    assert "no TLE found" in capsys.readouterr().err


def test_a_binary_config_file_exits_2_with_one_line(capsys, tmp_path):
    config = tmp_path / "twin.toml"
    config.write_bytes(b"\xff\xfe\x00 not text")
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid TOML in UTF-8" in err
