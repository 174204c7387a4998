"""The classical expert's answer from any simulator state: the labels of DAgger data.

A dataset's labels are hindsight: the expert drove the run, and its future poses are where it went. That only
labels states the expert visits. The learned planner drifts into others (late braking behind a slowing lead,
off-centre in a curve) and has no label there (MODEL.md, "Tracked lead input"). DAgger (Ross et al. 2011) lets
the learner drive and asks the expert what it would do from each state it reached.

`expert_rollout` answers that without the node graph: it copies the simulator's world and runs the same
classical planner (`adas.planner.AdasPlanner`, warm: a copy of the one the ADAS node runs) and safety envelope
on the world's ground truth for the horizon, at the graph's rates (planner 50 Hz, ground truth 20 Hz, envelope
and plant 100 Hz). The learner's run is untouched. `tests/test_dagger.py` checks the rollout against hindsight
labels of a classical run.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

from adas.planner import AdasPlanner
from adas.types import DriverSettings, EgoState, LaneInfo, LaneLine, ObjectClass, TrackedObject
from safety.envelope import SafetyEnvelope, VehicleSnapshot
from vehicle_sim.dynamics import EgoCommand
from vehicle_sim.ecus import ecu_command
from vehicle_sim.world import LINE_TYPE_IDS, World, actor_numeric_id

#: the sim node's classes (edgepilot_nodes.common.CLASS_IDS) as the planner's object classes
_CLASSES = {"car": ObjectClass.CAR, "truck": ObjectClass.TRUCK, "pedestrian": ObjectClass.PEDESTRIAN,
            "cyclist": ObjectClass.CYCLIST, "obstacle": ObjectClass.STATIC}


@dataclass(frozen=True)
class Rates:
    """The lockstep graph's rates (ros_ws config: adas 50 Hz, sim ground truth 20 Hz; envelope runs every step)."""

    planner_hz: float = 50.0
    ground_truth_hz: float = 20.0


def ego_input(world: World) -> EgoState:
    """The planner's ego state, as the ADAS node gets it from /vehicle/state."""
    st, drv = world.ego_state, world.driver_state()
    return EgoState(speed_mps=st.speed, accel_long_mps2=st.ax, yaw_rate_rps=st.yaw_rate,
                    steering_wheel_angle_deg=st.steering_wheel_angle_deg,
                    driver_steering_torque_nm=drv.steering_torque_nm, accelerator_pedal_pct=drv.accelerator_pct,
                    brake_pedal_pct=drv.brake_pct, brake_pressed=drv.brake_pct > 2.0)


def ground_truth_objects(world: World) -> list[TrackedObject]:
    """The world's objects relative to the ego box centre, as the ADAS node gets /sim/ground_truth/objects (the
    sim node publishes `objects_base_link`, the ADAS node moves them from the rear axle to the box centre)."""
    base_to_centre = world.car.wheelbase_m / 2.0
    return [TrackedObject(id=actor_numeric_id(o.id), classification=_CLASSES.get(o.cls, ObjectClass(0)),
                          x_m=o.x - base_to_centre, y_m=o.y, vx_mps=o.vx, vy_mps=o.vy, length_m=o.length,
                          width_m=o.width, yaw_rad=o.yaw, confidence=1.0)
            for o in world.objects_base_link()]


def ground_truth_lanes(world: World) -> LaneInfo:
    """The world's lane geometry as the ADAS node gets /sim/ground_truth/lanes."""
    lg = world.lane_geometry()
    lines = tuple(LaneLine(i, LINE_TYPE_IDS.get(line.kind, 0), tuple((float(x), float(y)) for x, y in line.points))
                  for i, line in enumerate(lg.lines))
    return LaneInfo(lane_width_m=lg.lane_width_m, lateral_offset_m=lg.lateral_offset_m,
                    heading_error_rad=lg.heading_error_rad, curvature_1pm=lg.curvature_1pm, lines=lines)


def _snapshot(world: World, t: float) -> VehicleSnapshot:
    st, drv = world.ego_state, world.driver_state()
    return VehicleSnapshot(speed_mps=st.speed, steering_wheel_angle_deg=st.steering_wheel_angle_deg,
                           driver_steering_torque_nm=drv.steering_torque_nm, brake_pressed=drv.brake_pct > 2.0,
                           brake_pedal_pct=drv.brake_pct, accelerator_pedal_pct=drv.accelerator_pct,
                           can_valid=True, stamp_s=t)


def _command(bounded, settings: DriverSettings) -> EgoCommand:
    """What the vehicle's ECUs make of a bounded request, as in the simulator's step."""
    return ecu_command(bounded, settings.acc_enabled, settings.lka_enabled, settings.aeb_enabled)


def expert_rollout(world: World, planner: AdasPlanner, envelope: SafetyEnvelope, settings: DriverSettings,
                   horizon_s: float, rates: Rates = Rates(), shadowed: bool = True
                   ) -> dict[int, tuple[float, float, float]]:
    """Where the classical expert would drive the car from this state: {world step: (x, y, yaw)} of the rear axle
    for every step up to `horizon_s` ahead (fewer when the scenario ends first). Nothing passed in is changed.

    `planner` and `envelope` are the running graph's (copied here, so their filters, object tracks and rate
    limits carry on). `shadowed`: the planner only shadowed another driver (the e2e step runs it on the ground
    truth for its AEB), so its controllers engage here as they do when switched on: the ACC's jerk-limited
    output from what the car is being asked now, the LKA from where the wheel is with no integral. A shadowing
    LKA's integral has wound up on an offset it never corrected, and its angle is not the wheel's. False: the
    planner drove (a classical run), its state goes on as it is. The command reaches the plant one step later,
    as over CAN."""
    w, p, env = copy.deepcopy(world), copy.deepcopy(planner), copy.deepcopy(envelope)
    last = env.last_output
    if shadowed:
        p.engage(last.accel_mps2 if last.controls_active else w.ego_state.ax,
                 w.ego_state.steering_wheel_angle_deg, acc_running=settings.acc_enabled)
    dt = w.dt
    plan_every = max(1, int(round(1.0 / (rates.planner_hz * dt))))
    gt_every = max(1, int(round(1.0 / (rates.ground_truth_hz * dt))))
    steps = int(round(horizon_s / dt))
    poses: dict[int, tuple[float, float, float]] = {}
    objects, lanes = ground_truth_objects(w), ground_truth_lanes(w)
    request, request_t = None, None
    applied = _command(last, settings)          # in force now: what the envelope last passed
    for i in range(steps):
        t = w.t
        if i % gt_every == 0 and i:
            objects, lanes = ground_truth_objects(w), ground_truth_lanes(w)
        if i % plan_every == 0:
            request, _ = p.update(t, ego_input(w), objects, lanes, settings)
            request_t = t
        bounded, _ = env.step(t, request, _snapshot(w, t), request_t)
        w.step(applied)
        applied = _command(bounded, settings)       # the ECUs apply it from the next step (one CAN cycle)
        st = w.ego_state
        poses[w.steps] = (st.x, st.y, st.yaw)
        if w.finished:
            break
    return poses
