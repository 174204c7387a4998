"""The simulated vehicle as the rest of the stack sees it: a world plus the car's ECUs on CAN.

`Simulator.step(frames_in)` applies the ADAS/body frames the ECUs received, advances the world one step
and returns the chassis/body/cluster frames due. The sim node is a thin ROS adapter over this class; the
ADAS never touches the world directly, only CAN and the sensor topics.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import can
import numpy as np

from canbus.car_interface import DriverSwitches
from edgepilot.carparams import DEFAULT_CAR, CarParams

from . import camera as cam
from .cabin import Cabin
from .ecus import ChassisSnapshot, VehicleEcus, ecu_command
from .metrics import evaluate
from .report import jsonable, write_report
from .scenario import Scenario
from .world import GroundTruthObject, World

KPH = 1.0 / 3.6


@dataclass
class AdasEvents:
    """When the ADAS did what, as the vehicle saw it on CAN (cluster display and actuation frames)."""

    fcw_onset_s: float | None = None
    aeb_onset_s: float | None = None
    controls_engaged_s: float | None = None
    engagements: list[float] = field(default_factory=list)
    disengagements: list[float] = field(default_factory=list)
    _was_active: bool = False

    def update(self, t: float, controls_active: bool, aeb_active: bool, fcw: bool) -> None:
        if fcw and self.fcw_onset_s is None:
            self.fcw_onset_s = t
        if aeb_active and self.aeb_onset_s is None:
            self.aeb_onset_s = t
        if controls_active and self.controls_engaged_s is None:
            self.controls_engaged_s = t
        if controls_active and not self._was_active:
            self.engagements.append(round(t, 3))
        if self._was_active and not controls_active:
            self.disengagements.append(round(t, 3))
        self._was_active = controls_active

    def as_dict(self) -> dict:
        return {"fcw_onset_s": self.fcw_onset_s, "aeb_onset_s": self.aeb_onset_s,
                "controls_engaged_s": self.controls_engaged_s, "engagements_s": list(self.engagements),
                "disengagements_s": list(self.disengagements)}


class Simulator:
    """World + cabin + vehicle ECUs + cameras for one scenario run (deterministic for a seed)."""

    def __init__(self, scenario: Scenario, seed: int | None = None, *, car: CarParams = DEFAULT_CAR,
                 cameras: list[cam.CameraSpec] | None = None, actuation_timeout_s: float = 0.1) -> None:
        self.scenario = scenario
        self.world = World(scenario, seed, car)
        self.seed = self.world.seed
        self.car = car
        self.cabin = Cabin(self.seed)
        self.ecus = VehicleEcus(self.cabin, actuation_timeout_s=actuation_timeout_s)
        adas = scenario.ego.adas
        self.switches = DriverSwitches(
            acc_enabled=adas.acc,
            acc_set_speed_kph=float(adas.acc_set_speed_kph if adas.acc_set_speed_kph is not None
                                    else scenario.ego.speed_kph),
            lka_enabled=adas.lka,
            aeb_enabled=adas.aeb,
        )
        self.cameras = list(cameras or [])
        self._renderer = cam.Renderer()
        self._road_scene: tuple | None = None
        self.events = AdasEvents()
        self._prev_swa = self.world.ego_state.steering_wheel_angle_deg

    @property
    def t(self) -> float:
        return self.world.t

    @property
    def dt(self) -> float:
        return self.world.dt

    @property
    def finished(self) -> bool:
        return self.world.finished

    def step(self, frames_in: Iterable[can.Message]) -> list[can.Message]:
        """Apply received frames, advance one dt, return the frames due after the step."""
        now = self.world.t
        self.ecus.receive(frames_in, now)
        if self.ecus.switch_requests:   # the cockpit asked for ADAS switches (voice): the switch ECU applies them
            self.switches = self.ecus.apply_switch_requests(self.switches, self.world.ego_state.speed)
        req = self.ecus.actuation(now)
        sw = self.switches
        cmd = ecu_command(req, sw.acc_enabled, sw.lka_enabled, sw.aeb_enabled)
        self.world.step(cmd)
        self.cabin.step(self.world.dt, self.world.ego_state.speed)
        self.events.update(now, req.controls_active, cmd.aeb_active, bool(self.ecus.hmi.get("FCW", 0)))
        return self.ecus.transmit(self.world.t, self.chassis(), self.switches)

    def chassis(self) -> ChassisSnapshot:
        st = self.world.ego_state
        drv = self.world.driver_state()
        return ChassisSnapshot(
            speed_mps=st.speed,
            wheel_speeds_mps=tuple(st.wheel_speeds_mps),
            steering_wheel_angle_deg=st.steering_wheel_angle_deg,
            steering_wheel_rate_dps=st.steering_wheel_rate_dps,
            driver_torque_nm=drv.steering_torque_nm,
            yaw_rate_rps=st.yaw_rate,
            accel_long_mps2=st.ax,
            accel_lat_mps2=st.ay,
            gear=3,
            accelerator_pedal_pct=drv.accelerator_pct,
            brake_pedal_pct=drv.brake_pct,
            brake_pressed=drv.brake_pct > 2.0,
        )

    def objects_base_link(self) -> list[GroundTruthObject]:
        """Ground-truth objects as a perception stack reports them: box centre relative to base_link (the
        rear axle), velocity over ground, both in base_link axes (a parked car has zero velocity)."""
        return self.world.objects_base_link()

    def render_all(self, lighting: dict | None = None) -> dict[str, np.ndarray]:
        """One image per rig camera of the current world state (the scene is built once for all of them).

        ``lighting`` (optional) overrides the scene's ``sun_dir``, ``sky_rgb`` and/or ``ground_rgb`` (see
        camera.RenderScene), so data generation can vary the light per run; None keeps the defaults.
        """
        if self._road_scene is None:
            # The whole road once: the renderer caches its ground map by road content, so a fixed road
            # means the map is built once per run instead of once per frame.
            full = self.world.render_scene(behind_m=1e9, ahead_m=1e9)
            self._road_scene = (full.road_strips, full.markings)
        boxes = [cam.Box(b.x, b.y, b.z, b.length, b.width, b.height, b.yaw, tuple(b.rgb), b.cls)
                 for b in self.world.render_scene(behind_m=0.0, ahead_m=0.0).boxes]
        scene = cam.RenderScene(self._road_scene[0], self._road_scene[1], boxes)
        for key, value in (lighting or {}).items():
            if key not in ("sun_dir", "sky_rgb", "ground_rgb"):
                raise ValueError(f"render_all: lighting key {key!r} unknown (use sun_dir, sky_rgb, ground_rgb)")
            setattr(scene, key, tuple(value))
        st = self.world.ego_state
        return {spec.name: self._renderer.render(spec, (st.x, st.y, st.yaw), scene) for spec in self.cameras}

    def result(self) -> dict:
        """Summary, pass/fail and what the vehicle saw on CAN; JSON-serialisable."""
        summary = self.world.summary()
        passed, reasons = evaluate(self.scenario.success, summary)
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "passed": bool(passed),
            "reasons": reasons,
            "collision": bool(summary.get("collision")),
            "impact_speed_kph": summary.get("impact_speed_kph"),
            "relative_impact_speed_kph": summary.get("impact_relative_speed_kph"),
            "min_ttc_s": summary.get("min_ttc_s"),
            "min_distance_m": summary.get("min_distance_m"),
            "max_decel_mps2": summary.get("max_decel_mps2"),
            "max_jerk_mps3": summary.get("max_jerk_mps3"),
            "max_lane_departure_m": summary.get("max_lane_departure_m"),
            "time_to_stop_s": summary.get("time_to_stop_s"),
            "final_speed_kph": summary.get("final_speed_kph"),
            "sim_time_s": summary.get("sim_time_s"),
            "end_reason": summary.get("end_reason"),
            "adas": self.events.as_dict(),
            "can": {"frames_applied": self.ecus.frames_applied, "frames_ignored": self.ecus.frames_ignored,
                    "e2e_rejections": self.ecus.codec.monitor.rejections(),
                    "body_errors": list(self.ecus.body_errors)},
            "cabin": self.cabin.as_dict(),
            "summary": summary,
        }

    def write_report(self, out_dir: Path) -> dict:
        """Write <scenario>.json (and the PNG plot) under out_dir; returns the result with its paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        result = self.result()
        doc = write_report(out_dir, self.scenario, self.seed, self.world.summary(), self.world.timeseries())
        json_path = out_dir / f"{self.scenario.name}.json"
        result["plot_path"] = doc.get("plot")
        result["report_path"] = str(json_path)
        # The run result (incl. CAN/ADAS events) replaces the plain metrics JSON: one file per run.
        result = jsonable(result)
        json_path.write_text(json.dumps(result, indent=2, sort_keys=True))
        return result

