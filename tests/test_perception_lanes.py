"""Lane centre from a BEV lane-line mask (perception.lanes) and the plan blend the e2e driver can apply."""
from __future__ import annotations

import numpy as np
import pytest

from perception.lanes import LaneFitConfig, LaneTrackConfig, LaneTracker, blend_plan, lane_centre, move_centre

RANGE = (-10.0, 50.0, -16.0, 16.0)
RES = 0.5
H, W = 120, 64


def mask_with(lines, dashed: tuple[bool, ...] | None = None) -> np.ndarray:
    """Lane lines y = f(x) drawn into a mask in the dataset's convention (row 0 = far, column 0 = left)."""
    m = np.zeros((H, W), bool)
    xs = RANGE[1] - (np.arange(H) + 0.5) * RES
    for k, f in enumerate(lines):
        for i, x in enumerate(xs):
            if dashed and dashed[k] and int(x // 3) % 3 == 2:      # 6 m paint, 3 m gap
                continue
            j = int(np.floor((RANGE[3] - f(x)) / RES))
            if 0 <= j < W:
                m[i, j] = True
    return m


def test_straight_lane_centre_is_the_ego_path():
    lane = lane_centre(mask_with([lambda x: 1.75, lambda x: -1.75, lambda x: 5.25]), RANGE, RES)
    assert lane is not None and lane.sides == 2
    assert lane.width_m == pytest.approx(3.5, abs=0.5)
    assert np.abs(lane.y_at(np.array([5.0, 20.0, 35.0]))).max() < 0.3


def test_left_curve_bends_the_centre_left_and_the_blend_follows_it():
    r = 250.0
    mask = mask_with([lambda x: 1.75 + x * x / (2 * r), lambda x: -1.75 + x * x / (2 * r)], dashed=(True, False))
    lane = lane_centre(mask, RANGE, RES)
    assert lane is not None and lane.sides == 2
    for x in (10.0, 20.0, 30.0):
        assert lane.y_at(x) == pytest.approx(x * x / (2 * r), abs=0.3)
    plan = np.array([[11.0, 0.0], [22.0, 0.0], [33.0, 0.0], [44.0, 0.0], [55.0, 0.0], [66.0, 0.0]], np.float32)
    out = blend_plan(plan, lane, 1.0)
    assert np.array_equal(out[:, 0], plan[:, 0])                          # speed profile untouched
    assert out[1, 1] == pytest.approx(22.0 ** 2 / (2 * r), abs=0.3)
    assert np.array_equal(out[-2:], plan[-2:])                            # beyond the fitted range: the plan's own
    half = blend_plan(plan, lane, 0.5)
    assert half[1, 1] == pytest.approx(out[1, 1] / 2, abs=1e-5)
    assert np.array_equal(blend_plan(plan, None, 1.0), plan)


def test_one_boundary_gives_a_centre_half_a_lane_away_and_bad_lanes_give_none():
    lane = lane_centre(mask_with([lambda x: -1.75]), RANGE, RES)
    assert lane is not None and lane.sides == 1
    assert lane.y_at(15.0) == pytest.approx(-1.75 + np.mean(LaneFitConfig().lane_width_m) / 2, abs=0.3)
    assert lane_centre(np.zeros((H, W), bool), RANGE, RES) is None
    # two lines 1.5 m apart are not a lane
    assert lane_centre(mask_with([lambda x: 0.75, lambda x: -0.75]), RANGE, RES) is None
    # a few specks are not a boundary
    speck = np.zeros((H, W), bool)
    speck[110:113, 28] = True
    assert lane_centre(speck, RANGE, RES) is None


def test_driver_lane_blend_is_checked():
    from perception.driving import E2EDriver

    with pytest.raises(ValueError, match="lane_blend must be in"):
        E2EDriver(lane_blend=1.5)


def test_move_centre_is_the_rigid_ego_motion():
    straight = np.array([0.0, 0.0, 1.0])                                   # y = 1 m
    assert np.polyval(move_centre(straight, 5.0, 0.0), 20.0) == pytest.approx(1.0, abs=1e-6)
    # the ego turns left by 0.02 rad: a line straight ahead now lies to the right, by ~0.02 x
    turned = move_centre(np.zeros(3), 0.0, 0.02)
    assert np.polyval(turned, 30.0) == pytest.approx(-0.02 * 30.0, abs=0.02)


def test_tracker_keeps_the_lane_when_the_car_drifts_onto_a_line():
    """Frame by frame the car drifts 1.6 m right (the lines move left in its frame). Where the right line is
    under the car the one-frame fit finds no lane (or the wrong one); the tracker keeps the ego lane."""
    tracker = LaneTracker(RANGE, RES)
    t, last_single = 0.0, None
    for d in np.arange(0.0, 1.61, 0.1):
        lines = [lambda x, d=d, y0=y0: y0 + d for y0 in (1.75, -1.75, 5.25, -5.25)]
        mask = mask_with(lines)
        lane = tracker.update(t, mask, 20.0, 0.0)
        last_single = lane_centre(mask, RANGE, RES)
        assert lane is not None and tracker.measured
        assert lane.y_at(15.0) == pytest.approx(d, abs=0.25), d
        t += 0.1
    assert last_single is None or abs(last_single.y_at(15.0) - 1.6) > 1.0   # the one-frame fit has lost it


def test_tracker_coasts_on_the_motion_then_lets_go():
    cfg = LaneTrackConfig(max_coast_s=0.5)
    tracker = LaneTracker(RANGE, RES, cfg=cfg)
    tracker.update(0.0, mask_with([lambda x: 1.75, lambda x: -1.75]), 20.0, 0.0)
    empty = np.zeros((H, W), bool)
    lane = tracker.update(0.1, empty, 20.0, 0.01)               # no lines this frame: the motion predicts it
    assert lane is not None and not tracker.measured
    assert lane.y_at(30.0) == pytest.approx(-0.001 * 30.0, abs=0.02)   # turned 0.001 rad left: the lane swings right
    for k in range(2, 8):
        lane = tracker.update(0.1 * k, empty, 20.0, 0.0)
    assert lane is None                                          # 0.7 s without a line: dropped
    # time going backwards (a replay restarted) starts over from the one-frame fit
    tracker.update(1.0, mask_with([lambda x: 1.75, lambda x: -1.75]), 20.0, 0.0)
    lane = tracker.update(0.5, mask_with([lambda x: 2.75, lambda x: -0.75]), 20.0, 0.0)
    assert lane is not None and lane.y_at(10.0) == pytest.approx(1.0, abs=0.25)
