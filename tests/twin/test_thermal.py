"""Thermal nodes: steady state against the closed-form radiative balance, stability at 60 s."""

import numpy as np
import pytest

from twin.core.clock import parse_start
from twin.physics.thermal import STEFAN_BOLTZMANN_W_M2_K4, steady_state_k, step_thermal
from twin.sim.presets import build, load_preset


@pytest.fixture(scope="module")
def hw():
    return build(load_preset("threebody-12"), parse_start("2026-03-20T00:00:00Z"))[1]


@pytest.mark.parametrize("dt_s", [1.0, 10.0, 60.0])
def test_constant_load_settles_on_the_radiative_balance_within_0_5_k(hw, dt_s):
    q_payload = np.linspace(100.0, 900.0, 12)
    q_absorbed = np.full(12, 120.0)
    temp_p = np.full(12, 250.0)
    temp_r = np.full(12, 400.0)  # far from equilibrium on both sides
    for _ in range(int(86_400 / dt_s)):  # ~40 payload time constants (C/G ≈ 2000 s)
        temp_p, temp_r = step_thermal(hw, temp_p, temp_r, q_payload, q_absorbed, dt_s)
    expected_p, expected_r = steady_state_k(hw, q_payload, q_absorbed)
    np.testing.assert_allclose(temp_p, expected_p, atol=0.5)
    np.testing.assert_allclose(temp_r, expected_r, atol=0.5)
    # The balance itself: emitted equals absorbed plus dissipated.
    emitted = hw.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * hw.radiator_area_m2 * temp_r**4
    np.testing.assert_allclose(emitted, q_payload + q_absorbed, rtol=3e-3)  # ≈ 0.5 K


def test_60_s_steps_do_not_oscillate_or_diverge(hw):
    temp_p = np.full(12, 200.0)
    temp_r = np.full(12, 200.0)
    q_payload = np.full(12, 5000.0)  # a violent step in load
    history = []
    for _ in range(2000):
        temp_p, temp_r = step_thermal(hw, temp_p, temp_r, q_payload, np.zeros(12), 60.0)
        history.append(temp_r[0])
    history = np.array(history)
    _, final_r = steady_state_k(hw, q_payload, np.zeros(12))
    assert np.all(np.diff(history) >= -1e-9), "radiator warms monotonically towards balance"
    assert history.max() <= final_r[0] + 1e-6


def test_energy_conservation_of_one_step(hw):
    """Heat stored in the nodes equals heat in minus heat radiated (linearised at T0)."""
    temp_p = np.full(12, 300.0)
    temp_r = np.full(12, 290.0)
    q_p = np.full(12, 400.0)
    q_r = np.full(12, 50.0)
    dt = 1.0
    new_p, new_r = step_thermal(hw, temp_p, temp_r, q_p, q_r, dt)
    stored_j = hw.payload_heat_capacity_j_k * (new_p - temp_p) + hw.radiator_heat_capacity_j_k * (
        new_r - temp_r
    )
    e_sigma_a = hw.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * hw.radiator_area_m2
    radiated_j = e_sigma_a * (temp_r**4 + 4 * temp_r**3 * (new_r - temp_r) - 3.0**4) * dt
    np.testing.assert_allclose(stored_j, (q_p + q_r) * dt - radiated_j, rtol=1e-9, atol=1e-6)


def test_a_heat_pump_holds_its_set_point_and_pays_for_the_lift_by_carnot():
    """ASCEND's 1 MW modules: the pump holds the payload at its set point with the radiator
    hotter than the payload; at steady state the radiator emits the payload's heat plus the
    pump's work, the work is what the coefficient η·T_p/(T_r − T_p) asks (never below
    Carnot's), and the same radiator without the pump lets the payload run far hotter."""
    from twin.physics.thermal import KELVIN, heat_pump_w

    module = build(load_preset("ascend-10mw"), parse_start("2026-06-21T00:00:00Z"))[1]
    hw = module.subset(np.zeros(5, np.intp))
    # The fifth module's pump is too small for its load: it saturates.
    hw = type(hw)({**hw.arrays, "heat_pump_max_w": np.r_[hw.heat_pump_max_w[:4], 0.5e6]})
    q_payload = np.array([0.3e6, 0.6e6, 0.9e6, 1.2e6, 0.9e6])  # W dissipated by the IT
    temp_p = np.full(5, 300.0)
    temp_r = np.full(5, 300.0)
    dt_s = 60.0
    for _ in range(20_000):  # ~14 days: many radiator time constants
        lifted, work = heat_pump_w(hw, temp_p, temp_r, q_payload, dt_s)
        temp_p, temp_r = step_thermal(
            hw, temp_p, temp_r, q_payload, np.zeros(5), dt_s, lifted, work
        )
    setpoint_k = hw.heat_pump_setpoint_c + KELVIN
    lifted, work = heat_pump_w(hw, temp_p, temp_r, q_payload, dt_s)
    np.testing.assert_allclose(temp_p[:4], setpoint_k[:4], atol=0.05)
    assert lifted[4] == hw.heat_pump_max_w[4] and temp_p[4] > setpoint_k[4] + 5.0
    # Light loads need no lift; from 0.9 MW on the radiator runs well above the payload.
    assert temp_r[0] < temp_p[0] and (temp_r[2:4] > temp_p[2:4] + 30.0).all()
    conducted = hw.payload_radiator_conductance_w_k * (temp_p - temp_r)
    np.testing.assert_allclose(lifted + conducted, q_payload, rtol=1e-3)  # payload balance
    eta = hw.heat_pump_carnot_fraction
    lift_k = temp_r - temp_p
    cop = np.minimum(
        np.where(lift_k > 0, eta * temp_p / np.where(lift_k > 0, lift_k, 1.0), np.inf),
        hw.heat_pump_max_cop,
    )
    assert (cop[2:4] < hw.heat_pump_max_cop[2:4]).all()  # Carnot-limited where it lifts
    np.testing.assert_allclose(work, lifted / cop, rtol=1e-6)
    assert (work >= lifted * (temp_r - temp_p) / temp_p).all()  # no better than Carnot
    e_sigma_a = hw.radiator_emissivity * STEFAN_BOLTZMANN_W_M2_K4 * hw.radiator_area_m2
    np.testing.assert_allclose(e_sigma_a * temp_r**4, q_payload + work, rtol=3e-3)

    passive = type(hw)({**hw.arrays, "heat_pump_max_w": np.zeros(5)})
    passive_p, _ = steady_state_k(passive, q_payload, np.zeros(5))
    assert (passive_p > setpoint_k + 50.0).all()
