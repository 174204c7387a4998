"""Ego plant, road geometry and driver arbitration."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.carparams import DEFAULT_CAR
from vehicle_sim.driver import AEB_KICKDOWN_PCT, DriverInput, arbitrate
from vehicle_sim.dynamics import EgoCommand, EgoVehicle
from vehicle_sim.road import DASH_GAP_M, DASH_LENGTH_M, Road, Segment

NO_RESIST = replace(DEFAULT_CAR, drag_coefficient=0.0, rolling_resistance=0.0)


def lagged_stop(v0: float, a: float, tau: float) -> tuple[float, float]:
    """Exact stop time and distance for a step decel request through a first-order lag."""
    def v(t):
        return v0 - a * (t - tau * (1 - math.exp(-t / tau)))

    lo, hi = 0.0, v0 / a + 5 * tau + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if v(mid) > 0 else (lo, mid)
    ts = 0.5 * (lo + hi)
    x = v0 * ts - a * (ts ** 2 / 2 - tau * ts + tau ** 2 * (1 - math.exp(-ts / tau)))
    return ts, x


def drive(ego: EgoVehicle, accel: float, swa: float, seconds: float, dt: float = 0.01) -> None:
    for _ in range(int(round(seconds / dt))):
        ego.step(accel, swa, dt)


@pytest.mark.parametrize("v0,a", [(10.0, 4.0), (20.0, 6.0), (30.0, 9.0)])
def test_stopping_distance_matches_lagged_analytic(v0, a):
    ego = EgoVehicle(NO_RESIST, speed=v0)
    t = 0.0
    while ego.state.vx > 0.0 and t < 30:
        ego.step(-a, 0.0, 0.01)
        t += 0.01
    t_ref, x_ref = lagged_stop(v0, a, NO_RESIST.accel_actuator_tau_s)
    assert ego.state.x == pytest.approx(x_ref, rel=0.02)
    assert x_ref > v0 ** 2 / (2 * a)  # the lag really adds distance
    assert t == pytest.approx(t_ref, abs=0.03)
    # held at standstill, never reverses
    x_stop = ego.state.x
    drive(ego, -a, 0.0, 2.0)
    assert ego.state.vx == 0.0 and ego.state.x == pytest.approx(x_stop, abs=1e-9)


def test_zero_request_coasts_down_slowly_and_accel_limits():
    ego = EgoVehicle(DEFAULT_CAR, speed=30.0)
    drive(ego, 0.0, 0.0, 5.0)
    assert 28.0 < ego.state.vx < 29.9
    ego = EgoVehicle(NO_RESIST, speed=0.0)
    drive(ego, 50.0, 0.0, 3.0)  # request far above the powertrain limit
    assert ego.state.ax == pytest.approx(NO_RESIST.max_accel_mps2, rel=0.01)


def test_low_speed_cornering_radius_is_geometric():
    swa = 90.0
    ego = EgoVehicle(DEFAULT_CAR, speed=2.0)
    drive(ego, 0.0, swa, 1.0)
    # hold 2 m/s: compensate the (small) rolling resistance
    for _ in range(1500):
        ego.step(0.02 * (2.0 - ego.state.vx) / 0.01 + 0.118, swa, 0.01)
    delta = math.radians(swa) / DEFAULT_CAR.steer_ratio
    radius = ego.state.vx / ego.state.yaw_rate  # rear-axle path radius
    assert radius == pytest.approx(DEFAULT_CAR.wheelbase_m / math.tan(delta), rel=0.02)
    assert radius == pytest.approx(DEFAULT_CAR.wheelbase_m / delta, rel=0.03)


def test_standstill_and_high_speed_are_finite_and_stable():
    ego = EgoVehicle(DEFAULT_CAR, speed=0.0)
    drive(ego, -5.0, 300.0, 2.0)
    s = ego.state
    assert all(np.isfinite([s.x, s.y, s.yaw, s.vx, s.vy, s.yaw_rate, s.ax, s.ay]))
    assert s.vx == 0.0 and abs(s.x) < 1e-9 and s.wheel_speeds_mps == (0.0, 0.0, 0.0, 0.0)
    ego = EgoVehicle(DEFAULT_CAR, speed=40.0)
    drive(ego, 0.3, 20.0, 5.0)
    s = ego.state
    assert all(np.isfinite([s.x, s.y, s.yaw, s.vx, s.vy, s.yaw_rate]))
    # steady-state yaw rate of the linear model incl. understeer
    delta = math.radians(20.0) / DEFAULT_CAR.steer_ratio
    a, b = DEFAULT_CAR.cg_to_front_m, DEFAULT_CAR.cg_to_rear_m
    k_us = DEFAULT_CAR.mass_kg / DEFAULT_CAR.wheelbase_m * (b / DEFAULT_CAR.cornering_stiffness_front_npr
                                                           - a / DEFAULT_CAR.cornering_stiffness_rear_npr)
    r_ss = s.vx * delta / (DEFAULT_CAR.wheelbase_m + k_us * s.vx ** 2)
    assert s.yaw_rate == pytest.approx(r_ss, rel=0.05)
    assert s.ay == pytest.approx(s.vx * s.yaw_rate, rel=0.05)


def test_steering_rate_limit_and_wheel_speeds():
    ego = EgoVehicle(DEFAULT_CAR, speed=10.0)
    ego.step(0.0, 500.0, 0.01)
    assert abs(ego.state.steering_wheel_rate_dps) <= DEFAULT_CAR.max_steering_wheel_rate_dps + 1e-6
    drive(ego, 0.0, 200.0, 3.0)
    fl, fr, rl, rr = ego.state.wheel_speeds_mps
    assert rr > rl and fr > fl  # left turn: right (outer) wheels faster


@settings(max_examples=60, deadline=None)
@given(s=st.floats(-50, 1150), d=st.floats(-4, 8))
def test_road_project_inverts_to_world(s, d):
    # curvy but not self-overlapping (a road crossing itself is genuinely ambiguous to project onto)
    road = Road(3, 3.5, [Segment(200, 0.0), Segment(300, 0.005), Segment(300, -0.008), Segment(300, 0.0)])
    x, y, _ = road.to_world(s, d)
    s2, d2 = road.project(x, y)
    assert s2 == pytest.approx(s, abs=1e-6) and d2 == pytest.approx(d, abs=1e-6)


def test_road_vectorized_and_markings():
    road = Road(2, 3.5, [Segment(100, 0.0), Segment(200, 0.005)])
    s = np.linspace(0, 300, 50)
    d = np.full_like(s, 1.2)
    x, y, h = road.to_world(s, d)
    s2, d2 = road.project(x, y)
    assert np.allclose(s2, s) and np.allclose(d2, d)
    assert road.curvature(150.0) == pytest.approx(0.005)
    # circle end point in closed form
    x_end, y_end, h_end = road.to_world(300.0)
    assert x_end == pytest.approx(100 + math.sin(1.0) / 0.005) and y_end == pytest.approx((1 - math.cos(1.0)) / 0.005)
    pieces = road.marking_pieces(0.0, 120.0)
    dashes = [p for p in pieces if p.kind == "dashed"]
    solids = [p for p in pieces if p.kind == "solid"]
    assert len(solids) == 2 and {p.line_index for p in solids} == {0, 2}
    assert len(dashes) == 10  # 120 m / (3 + 9) m
    lens = [np.linalg.norm(np.diff(p.points, axis=0), axis=1).sum() for p in dashes[:8]]  # straight part
    assert np.allclose(lens, DASH_LENGTH_M, atol=1e-6)
    gap = np.linalg.norm(dashes[1].points[0] - dashes[0].points[-1])
    assert gap == pytest.approx(DASH_GAP_M, abs=1e-6)


def test_arbitration_priorities():
    car = DEFAULT_CAR
    robot = DriverInput(accelerator_pct=10.0, steering_wheel_angle_deg=5.0)
    # no ADAS -> driver
    arb = arbitrate(None, robot, car)
    assert arb.long_source == "driver" and arb.accel_mps2 == pytest.approx(0.3)
    # ADAS in control, driver hands/feet off
    cmd = EgoCommand(1.0, -3.0, controls_active=True)
    arb = arbitrate(cmd, DriverInput(), car)
    assert (arb.long_source, arb.lat_source, arb.accel_mps2, arb.steering_wheel_angle_deg) == ("adas", "adas", 1.0, -3.0)
    # LKA only (accel None) leaves longitudinal to the driver
    arb = arbitrate(EgoCommand(None, -3.0, True), robot, car)
    assert arb.long_source == "driver" and arb.lat_source == "adas"
    # driver torque overrides lateral, brake overrides longitudinal
    arb = arbitrate(cmd, DriverInput(brake_pct=30, steering_torque_nm=3.0, steering_wheel_angle_deg=9.0), car)
    assert arb.long_source == "driver" and arb.accel_mps2 == pytest.approx(-3.0)
    assert arb.lat_source == "driver" and arb.steering_wheel_angle_deg == 9.0
    # AEB beats ADAS and a light driver throttle, but not a kick-down
    aeb = EgoCommand(1.0, 0.0, True, aeb_active=True, aeb_decel_mps2=8.0)
    assert arbitrate(aeb, DriverInput(), car).accel_mps2 == -8.0
    assert arbitrate(aeb, DriverInput(accelerator_pct=40), car).long_source == "aeb"
    kick = arbitrate(aeb, DriverInput(accelerator_pct=AEB_KICKDOWN_PCT + 5), car)
    assert kick.long_source == "driver" and kick.accel_mps2 > 0
    # a harder driver brake than AEB wins (stronger deceleration)
    hard = arbitrate(aeb, DriverInput(brake_pct=100), car)
    assert hard.accel_mps2 == -car.max_decel_mps2
