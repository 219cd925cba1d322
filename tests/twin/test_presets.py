"""Presets load, carry their sources, build their fleets, and reject bad keys by name."""

import re

import numpy as np
import pytest

from twin.core.clock import parse_start
from twin.physics.sun import sun_right_ascension_deg
from twin.sim.presets import PresetError, available, build, load_preset

START_NS = parse_start("2026-03-20T12:00:00Z")
BUNDLED = [
    "ascend-10mw",
    "madari-pilot",
    "starcloud-1",
    "suncatcher-81",
    "threebody-12",
    "threebody-2800",
]


def test_the_presets_are_bundled_and_every_source_says_how_sure_it_is():
    assert available() == BUNDLED
    for name in BUNDLED:
        for source in load_preset(name).sources:
            # [S] stated by the source, [I] inferred from it, [E] an engineering estimate
            assert re.search(r"\[[SIE][\],]", source), (name, source)


@pytest.mark.parametrize(
    ("name", "n_sat", "n_planes"),
    [
        ("threebody-12", 12, 1),
        ("threebody-2800", 2800, 100),
        ("starcloud-1", 1, 1),
        ("suncatcher-81", 81, 1),
        ("ascend-10mw", 10, 1),
        ("madari-pilot", 1, 1),
    ],
)
def test_presets_build_fleets_and_hardware(name, n_sat, n_planes):
    preset = load_preset(name)
    assert preset.sources and all(isinstance(s, str) and s for s in preset.sources)
    fleet, hw = build(preset, START_NS)
    assert fleet.n_sat == n_sat and len(np.unique(fleet.plane)) == n_planes
    assert len(np.unique(fleet.sat_id)) == n_sat
    assert hw.battery_capacity_wh.shape == (n_sat,)


def test_threebody_2800_shells_carry_their_hardware():
    fleet, hw = build(load_preset("threebody-2800"), START_NS)
    assert np.bincount(fleet.shell).tolist() == [1200, 1200, 400]
    assert (hw.accelerator_peak_tops[fleet.shell == 2] == 2000.0).all()
    assert (hw.accelerator_peak_tops[fleet.shell < 2] == 420.0).all()
    inclinations = np.degrees([s.inclo for s in fleet.elements])
    np.testing.assert_allclose(np.unique(inclinations.round(6)), [50.0, 97.4, 99.5])


def test_dawn_dusk_node_is_90_degrees_east_of_the_sun():
    fleet, _ = build(load_preset("suncatcher-81"), START_NS)
    raan = np.degrees(fleet.elements[0].nodeo)
    assert (raan - sun_right_ascension_deg(START_NS)) % 360 == pytest.approx(90.0, abs=0.01)


def _write(tmp_path, text):
    path = tmp_path / "custom.toml"
    path.write_text(text)
    return str(path)


def _preset_text(**replace):
    text = (load_preset("threebody-12").path).read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def test_unknown_hardware_key_is_named(tmp_path):
    path = _write(
        tmp_path, _preset_text(**{"bus_load_w = 150.0": "bus_load_w = 150.0\nbus_lod_w = 1"})
    )
    with pytest.raises(PresetError, match=r"hardware.threebody-compute: unknown keys bus_lod_w"):
        load_preset(path)


def test_missing_hardware_key_is_named(tmp_path):
    path = _write(tmp_path, _preset_text(**{"heater_w = 40.0": ""}))
    with pytest.raises(PresetError, match=r"missing keys heater_w"):
        load_preset(path)


def test_out_of_range_value_names_field_value_and_range(tmp_path):
    path = _write(
        tmp_path, _preset_text(**{"array_cell_efficiency = 0.298": "array_cell_efficiency = 2.98"})
    )
    with pytest.raises(PresetError, match=r"array_cell_efficiency: 2.98 is outside .*0.01..0.5"):
        load_preset(path)


def test_wrong_type_and_bad_pattern_are_named(tmp_path):
    path = _write(tmp_path, _preset_text(**{"total = 12 ": 'total = "twelve" '}))
    with pytest.raises(PresetError, match=r"shells\[0\].total: 'twelve' is not a int"):
        load_preset(path)
    path = _write(tmp_path, _preset_text(**{'pattern = "walker-delta"': 'pattern = "walker"'}))
    with pytest.raises(PresetError, match=r"pattern: 'walker' is not one of walker-delta"):
        load_preset(path)


def test_unbuildable_shell_is_named(tmp_path):
    path = _write(tmp_path, _preset_text(**{"planes = 1 ": "planes = 5 "}))
    with pytest.raises(PresetError, match=r"shells\[0\] \(batch-1\).planes: 5 must"):
        build(load_preset(path), START_NS)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(PresetError, match="available: ascend-10mw, madari-pilot, starcloud-1"):
        load_preset("threebody-9000")
