import pytest

from twin.app.cli import main
from twin.core.settings import ENV_DATABASE, ENV_KAFKA

T = "2026-03-20T12:00:00Z"
# A database nobody listens on: every check above must refuse before connecting.
STATES = ["forecast", "states", "--start", T, "--database", "postgresql://u@127.0.0.1:1/x"]


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
        # A forecast's grid and horizon: a pass shorter than the grid could be missed.
        (["forecast", "make", "--step", "5m"], "--step: at most 60s"),
        (["forecast", "make", "--horizon", "5s"], "--horizon: 5s is shorter than one --step"),
        (["forecast", "make", "--horizon", "forever"], "--horizon"),
        # Forks: where from, how far, which shell, when.
        (["whatif", "--start", T, "--from", "yesterday"], "--from"),
        (["whatif", "--start", T, "--from", "observed"], "--from"),
        (["whatif", "--start", T, "--from", "latest"], "--from latest"),
        (["whatif", "--start", T, "--from", "start", "--horizon", "forever"], "--horizon"),
        (["whatif", "--start", T, "--from", "start", "--horizon", "500ms"], "one tick"),
        (["whatif", "--start", T, "--from", "start", "--shell", "x"], "--shell: 'x'"),
        (
            ["whatif", "--start", "2053-09-30T12:00:00Z", "--from", "start", "--horizon", "1d"],
            "DE421",
        ),
        (
            ["whatif", "--start", T, "--from", "start", "--change", "/nonexistent.toml"],
            "cannot read a change file",
        ),
        ([*STATES, "--from", "observed", "--max-age", "old"], "--max-age"),
        ([*STATES, "--from", "observed", "--at", "soon"], "start"),
        (
            [*STATES, "--from", "observed", "--at", "2026-03-20T12:00:05Z", "--step", "10s"],
            "--at: 2026-03-20T12:00:05Z is not a tick",
        ),
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
    err = capsys.readouterr().err
    assert "--kafka / TWIN_KAFKA_BOOTSTRAP: not set; expected host:port" in err
    assert "None" not in err and "scripts/stack up" in err


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
    assert "available: ascend-10mw, madari-pilot, starcloud-1" in capsys.readouterr().err
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


def _helps(parser, path):
    """(command path, help text) of ``parser`` and every subcommand under it."""
    import argparse

    yield path, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _helps(sub, f"{path} {name}")


def test_no_help_text_shows_docstring_markup():
    from twin.app.cli import build_parser

    for path, text in _helps(build_parser(), "twin"):
        for markup in ("``", ":func:", ":class:", ":meth:"):
            assert markup not in text, (path, markup)


def test_a_max_speed_run_from_now_ends_now_on_a_whole_tick_and_a_paced_one_starts_now():
    import time

    from twin.app.cli.run import run_start_ns
    from twin.core.clock import NS_PER_S

    hour, tick = 3600 * NS_PER_S, 10 * NS_PER_S
    before = time.time_ns()
    start = run_start_ns("now", None, hour, tick)
    after = time.time_ns()
    assert start % tick == 0
    assert before - hour - tick < start <= after - hour  # the run's end is not in the future
    paced = run_start_ns("now", 1.0, hour, tick)
    assert before - NS_PER_S <= paced <= time.time_ns() + NS_PER_S  # "now" on a whole second
    fixed = run_start_ns("2026-03-20T12:00:00Z", None, hour, tick)
    assert fixed == 1_774_008_000 * NS_PER_S


def test_json_log_format_writes_status_lines_and_log_records_as_json_with_utc_times(
    capsys, tmp_path
):
    import json
    import logging

    from twin.app.output import JsonLogFormatter, use_json

    out = tmp_path / "s.toml"
    try:
        argv = ["--log-format", "json", "scenario", "generate", "--preset", "threebody-2800"]
        assert main([*argv, "--out", str(out)]) == 0
    finally:
        use_json(False)
    lines = capsys.readouterr().out.splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert entry["time"].endswith("Z") and entry["level"] == "INFO"
    assert any("twin scenario generate:" in json.loads(line)["message"] for line in lines)
    record = logging.LogRecord("twin", logging.WARNING, __file__, 1, "odd %s", ("value",), None)
    entry = json.loads(JsonLogFormatter().format(record))
    assert entry["message"] == "odd value" and entry["time"].endswith("Z")
    assert len(entry["time"]) == len("2026-12-04T18:09:36.000Z")


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--out", "r.html"],
        ["export", "--table", "telemetry", "--out", "r.csv"],
        ["anomalies", "list"],
        ["anomalies", "ack", "hot:1:0", "--reason", "seen"],
        ["anomalies", "shelve", "hot:1:0", "--reason", "pass", "--for", "1h"],
        ["db", "shell"],
    ],
)
def test_readers_of_a_directory_without_a_store_exit_2_and_make_nothing(
    command, capsys, monkeypatch, tmp_path
):
    monkeypatch.delenv(ENV_DATABASE, raising=False)
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "store"
    empty.mkdir()
    assert main([*command, "--data-dir", str(empty)]) == 2
    assert f"--data-dir: no embedded store in {empty}" in capsys.readouterr().err
    assert list(empty.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["store"]


def test_emulate_with_an_unreadable_salt_file_exits_2_before_touching_anything(capsys, tmp_path):
    argv = ["emulate", "--preset", "threebody-12", "--duration", "1m",
            "--truth-salt-file", str(tmp_path / "absent"), "--kafka", "127.0.0.1:1",
            "--database", "postgresql://twin@127.0.0.1:1/twin"]  # fmt: skip
    assert main(argv) == 2
    assert "--truth-salt-file: cannot read it" in capsys.readouterr().err
