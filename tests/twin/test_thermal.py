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
