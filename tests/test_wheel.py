"""The wheel as a user installs it: every package and the top-level ``grafana/`` and
``schemas/`` ship in it, and the commands that read them work from a fresh virtual
environment (outside the checkout), not only from this source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import same_json
from tests.twin.test_grafana_publish import ENV, TOKEN, grafana  # noqa: F401 (fixture)
from twin.stream.contract import SCHEMAS

ROOT = Path(__file__).resolve().parent.parent


def _packages_on_disk() -> set[str]:
    found = set()
    for top in ("twin", "ingest"):
        for init in ROOT.joinpath(top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_every_package_is_listed_for_the_wheel():
    listed = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(listed["packages"])
    assert packages - {"twin.bundled.grafana", "twin.bundled.schemas"} == _packages_on_disk()
    assert listed["package-dir"] == {
        "twin.bundled.grafana": "grafana",
        "twin.bundled.schemas": "schemas",
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the tree (an in-tree build would leave build/ in the checkout)."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".venv"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("orbital_twin-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh environment with the wheel installed; the dependencies come from this
    interpreter's site-packages (nothing is downloaded), the project itself only from the
    wheel."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root)],
                   check=True, timeout=120)  # fmt: skip
    subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--disable-pip-version-check", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return root


def _run(venv: Path, cwd: Path, *args: str, env: dict | None = None):
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {}), "PYTHONPATH": ""},
    )  # fmt: skip


def test_the_wheel_holds_the_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ROOT.joinpath("grafana").rglob("*"):
        if path.is_file():
            assert f"twin/bundled/grafana/{path.relative_to(ROOT / 'grafana')}" in names
    for path in ROOT.joinpath("schemas").rglob("*.*"):
        assert f"twin/bundled/schemas/{path.relative_to(ROOT / 'schemas')}" in names
    for data in ("ingest/rules/rules.yaml", "twin/stream/topics.toml",
                 "ingest/store/migrations/0001-initial.timescaledb.sql",
                 "twin/sim/presets/threebody-12.toml", "twin/data/stations.toml"):  # fmt: skip
        assert data in names


def test_installed_package_runs_from_the_wheel_not_the_checkout(venv, tmp_path):
    done = _run(venv, tmp_path, "python", "-c",
                "import twin, twin.core.settings as s; print(twin.__file__); "
                "print(s.shipped_dir('grafana')); print(s.shipped_dir('schemas'))")  # fmt: skip
    assert done.returncode == 0, done.stderr
    module, grafana_dir, schemas_dir = done.stdout.split()
    assert module.startswith(str(venv)) and grafana_dir.startswith(str(venv))
    assert schemas_dir.startswith(str(venv))


def test_contract_from_the_wheel_writes_the_shipped_schemas(venv, tmp_path):
    done = _run(venv, tmp_path, "python", "-m", "twin.stream.contract", "out")
    assert done.returncode == 0, done.stderr
    written = sorted(p.relative_to(tmp_path / "out") for p in (tmp_path / "out").rglob("*.json"))
    shipped = sorted(
        p.relative_to(ROOT / "schemas") for p in ROOT.joinpath("schemas").rglob("*.json")
    )
    # a schema and its examples per topic, and the telemetry dictionary as JSON
    assert written == shipped and len(written) == 2 * len(SCHEMAS) + 1
    for relative in written:
        assert same_json(
            json.loads((tmp_path / "out" / relative).read_text()),
            json.loads((ROOT / "schemas" / relative).read_text()),
        ), relative
    xtce = "channels.xtce.xml"
    assert (tmp_path / "out" / xtce).read_bytes() == (ROOT / "schemas" / xtce).read_bytes()


def test_grafana_publish_from_the_wheel_uses_the_shipped_dashboards(venv, tmp_path, grafana):  # noqa: F811
    fake, url = grafana
    done = _run(venv, tmp_path, "twin", "grafana", "publish", "--url", url,
                env={**ENV, "TWIN_GRAFANA_TOKEN": TOKEN})  # fmt: skip
    assert done.returncode == 0, done.stderr
    shipped = {
        json.loads(p.read_text())["uid"]
        for p in ROOT.joinpath("grafana", "dashboards").glob("*.json")
    }
    assert set(fake.dashboards) == shipped and len(shipped) >= 6
    assert "twin-timescaledb" in fake.datasources


def test_the_wheel_carries_the_license_and_the_backend_floor_supports_its_form(wheel):
    import tomllib

    names = set(zipfile.ZipFile(wheel).namelist())
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)[:20]
    assert "Apache License" in ROOT.joinpath("LICENSE").read_text()
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text())
    # An SPDX string in project.license (and license-files) needs setuptools 77 (PEP 639).
    assert isinstance(project["project"]["license"], str)
    floors = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    floors += [r for r in project["project"]["optional-dependencies"]["test"]
               if r.startswith("setuptools")]  # fmt: skip
    assert floors and all(int(r.split(">=")[1].split(".")[0]) >= 77 for r in floors), floors
