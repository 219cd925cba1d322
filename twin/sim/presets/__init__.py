"""Presets: fleets and hardware of real systems, as TOML data files validated into models.

A preset file has ``name``, ``description``, ``sources`` (citations), one or more
``[[shells]]`` and a ``[hardware.NAME]`` table per satellite model. Unknown or missing keys
are errors that name the file, the table and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from twin.core.settings import InputError, check_keys
from twin.fleet.cluster import formation_cluster
from twin.fleet.constellation import Fleet, concat, walker_delta, walker_star
from twin.fleet.elements import fleet_from_elements, read_elements
from twin.fleet.hardware import Hardware, HardwareSpec, check_spec, hardware_arrays
from twin.physics.sun import sun_right_ascension_deg

PRESET_DIR = Path(__file__).resolve().parent
PATTERNS = ("walker-delta", "walker-star", "cluster", "elements")


class PresetError(InputError):
    """A preset that cannot be used; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class ShellSpec:
    """One shell: a pattern of orbits flown by one hardware model."""

    name: str
    pattern: str
    hardware: str
    total: int = 0
    planes: int = 1
    phasing: int = 0
    altitude_km: float = 0.0
    inclination_deg: float = 0.0
    raan_deg: float = 0.0  # right ascension of the first plane, unless ltan_h is given
    ltan_h: float = -1.0  # local time of the ascending node (sun-synchronous shells), hours
    bstar: float = 0.0  # SGP4 drag term, 1/Earth radii
    radius_m: float = 0.0  # cluster
    spacing_m: float = 0.0  # cluster
    file: str = ""  # elements: path relative to the preset file
    format: str = ""  # elements: tle, omm-csv, omm-xml, omm-json (default: from suffix)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    sources: tuple[str, ...]
    shells: tuple[ShellSpec, ...]
    hardware: dict[str, HardwareSpec]
    path: Path


def available() -> list[str]:
    """Names of the bundled presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name_or_path: str) -> Preset:
    """Load a bundled preset by name, or a preset file by path, and validate it."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise PresetError(
                f"preset: {name_or_path!r} is not a bundled preset; "
                f"available: {', '.join(available())} (or give a .toml path)"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path}: {exc}") from None
    top = _typed(
        dict,
        data,
        str(path),
        {"name": str, "description": str, "sources": list, "shells": list, "hardware": dict},
    )
    hardware = {
        key: _model(HardwareSpec, table, f"{path.name}: hardware.{key}")
        for key, table in top["hardware"].items()
    }
    for key, spec in hardware.items():
        try:
            check_spec(spec, f"{path.name}: hardware.{key}")
        except ValueError as exc:
            raise PresetError(str(exc)) from None
    shells = tuple(
        _model(ShellSpec, table, f"{path.name}: shells[{i}]")
        for i, table in enumerate(top["shells"])
    )
    if not shells:
        raise PresetError(f"{path.name}: shells: at least one [[shells]] table is needed")
    for i, shell in enumerate(shells):
        where = f"{path.name}: shells[{i}] ({shell.name})"
        if shell.pattern not in PATTERNS:
            raise PresetError(
                f"{where}.pattern: {shell.pattern!r} is not one of {', '.join(PATTERNS)}"
            )
        if shell.hardware not in hardware:
            raise PresetError(
                f"{where}.hardware: {shell.hardware!r} is not defined; "
                f"defined: {', '.join(hardware)}"
            )
    return Preset(top["name"], top["description"], tuple(top["sources"]), shells, hardware, path)


def _typed(kind, data, where, required: dict[str, type]) -> dict:
    check_keys(data, where, required, error=PresetError)
    for key, typ in required.items():
        if not isinstance(data[key], typ):
            raise PresetError(
                f"{where}: {key}: expected {typ.__name__}, got {type(data[key]).__name__}"
            )
    return data


def _model(cls, table: dict, where: str):
    """Build a dataclass from a TOML table, checking keys and types (ints accepted as floats)."""
    if not isinstance(table, dict):
        raise PresetError(f"{where}: expected a table")
    known = {f.name: f for f in fields(cls)}
    required = [n for n, f in known.items() if f.default is MISSING]
    check_keys(table, where, known, required, error=PresetError)
    values = {}
    for name, value in table.items():
        if str(known[name].type) == "tuple[float, ...]":
            numbers = isinstance(value, list) and all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in value
            )
            if not numbers:
                raise PresetError(f"{where}.{name}: {value!r} is not a list of numbers")
            values[name] = tuple(float(v) for v in value)
            continue
        typ = {"float": float, "int": int, "str": str}[str(known[name].type)]
        ok = isinstance(value, typ) or (typ is float and isinstance(value, int))
        if not ok or isinstance(value, bool):
            raise PresetError(f"{where}.{name}: {value!r} is not a {typ.__name__}")
        values[name] = float(value) if typ is float else value
    return cls(**values)


def build(preset: Preset, epoch_ns: int) -> tuple[Fleet, Hardware]:
    """The preset's fleet (element epoch ``epoch_ns``) and per-satellite hardware arrays."""
    fleets, specs, next_id = [], [], 1
    for i, shell in enumerate(preset.shells):
        where = f"{preset.path.name}: shells[{i}] ({shell.name})"
        try:
            fleet = _shell_fleet(shell, preset.path.parent, epoch_ns, next_id)
        except ValueError as exc:
            raise PresetError(f"{where}.{exc}") from None
        fleets.append(fleet)
        specs.append(preset.hardware[shell.hardware])
        next_id = int(fleet.sat_id.max()) + 1
    return concat(fleets), hardware_arrays(specs, [f.n_sat for f in fleets])


def _shell_fleet(shell: ShellSpec, base: Path, epoch_ns: int, first_id: int) -> Fleet:
    raan0 = shell.raan_deg
    if shell.ltan_h >= 0.0:
        # The node sits (LTAN − 12 h) × 15°/h east of the mean Sun's right ascension.
        raan0 = (sun_right_ascension_deg(epoch_ns) + (shell.ltan_h - 12.0) * 15.0) % 360.0
    if shell.pattern in ("walker-delta", "walker-star"):
        make = walker_delta if shell.pattern == "walker-delta" else walker_star
        return make(
            shell.total,
            shell.planes,
            shell.phasing,
            shell.altitude_km,
            shell.inclination_deg,
            epoch_ns,
            raan0_deg=raan0,
            bstar=shell.bstar,
            first_sat_id=first_id,
        )
    if shell.pattern == "cluster":
        return formation_cluster(
            shell.total,
            shell.radius_m,
            shell.spacing_m,
            shell.altitude_km,
            shell.inclination_deg,
            epoch_ns,
            raan0_deg=raan0,
            first_sat_id=first_id,
        )
    sats, _ = read_elements(base / shell.file, shell.format or None)
    return fleet_from_elements(sats, first_sat_id=first_id)


__all__ = ["Preset", "PresetError", "ShellSpec", "available", "build", "load_preset"]
