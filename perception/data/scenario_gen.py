"""Randomized driving scenarios (vehicle_sim scenario dicts) for dataset generation.

Why: the end-to-end model needs many diverse scenes with a good expert. The classical ADAS (ACC + LKA +
AEB, driver model ``idle``) is the expert, so traffic is placed so that it can cope: obstacles mostly stay
out of the ego lane, leads start at a safe gap, crossing pedestrians clear the ego lane before it arrives.
Everything is drawn from ``np.random.default_rng(seed)``: same seed, same dict.
"""
from __future__ import annotations

import math

import numpy as np

from edgepilot.carparams import DEFAULT_CAR

KPH = 1.0 / 3.6
EGO_HALF_LENGTH_M = DEFAULT_CAR.length_m / 2
#: Lateral acceleration the LKA is asked to hold on curves (limits curvature at high set speeds).
MAX_LAT_ACCEL_MPS2 = 1.0
MAX_CURVATURE_1PM = 1.0 / 250.0
EGO_S_M = 120.0

#: (length, width, height) ranges in metres per actor type: realistic but varied boxes.
SIZE_RANGES: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "car": ((3.7, 5.2), (1.65, 2.0), (1.35, 1.9)),
    "truck": ((7.0, 16.0), (2.35, 2.6), (2.8, 4.0)),
    "pedestrian": ((0.35, 0.7), (0.45, 0.75), (1.45, 1.95)),
    "cyclist": ((1.6, 1.9), (0.5, 0.75), (1.55, 1.95)),
    "obstacle": ((0.4, 2.0), (0.4, 2.0), (0.3, 1.2)),
}


def _size(rng: np.random.Generator, kind: str) -> dict:
    (l0, l1), (w0, w1), (h0, h1) = SIZE_RANGES[kind]
    return {"length_m": round(float(rng.uniform(l0, l1)), 2), "width_m": round(float(rng.uniform(w0, w1)), 2),
            "height_m": round(float(rng.uniform(h0, h1)), 2)}


def _color(rng: np.random.Generator) -> list[int]:
    return [int(v) for v in rng.integers(0, 256, size=3)]


def _idm(rng: np.random.Generator, desired_kph: float, truck: bool) -> dict:
    return {"desired_speed_kph": round(max(desired_kph, 5.0), 1),
            "time_headway_s": round(float(rng.uniform(1.4, 2.2)), 2),
            "min_gap_m": round(float(rng.uniform(2.0, 4.0)), 2),
            "max_accel_mps2": round(float(rng.uniform(0.6, 1.0) if truck else rng.uniform(1.0, 2.0)), 2),
            "comfort_decel_mps2": round(float(rng.uniform(1.5, 3.0)), 2)}


def _road(rng: np.random.Generator, length_m: float, set_kph: float) -> list[dict]:
    """Straight and constant-curvature pieces; curvature bounded by what the LKA holds at the set speed."""
    v = set_kph * KPH
    kmax = min(MAX_CURVATURE_1PM, MAX_LAT_ACCEL_MPS2 / max(v * v, 1.0))
    segs = [{"length_m": round(float(rng.uniform(150.0, 300.0)), 1), "curvature_1pm": 0.0}]
    total = segs[0]["length_m"]
    while total < length_m:
        seg_len = round(float(rng.uniform(100.0, 400.0)), 1)
        k = 0.0 if rng.random() < 0.4 else float(rng.uniform(0.25, 1.0) * kmax * rng.choice([-1.0, 1.0]))
        segs.append({"length_m": seg_len, "curvature_1pm": round(k, 6)})
        total += seg_len
    return segs


def check_shares(**shares: float) -> None:
    """The scene options are shares of the runs: each must lie in [0, 1] (ValueError naming it otherwise)."""
    for name, p in shares.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")


def random_scenario(seed: int, recoveries: float = 0.0, stop_and_go: float = 0.0, approach: float = 0.0) -> dict:
    """A random highway/rural scene in the vehicle_sim scenario schema (loads with ``load_scenario``). With
    probability ``recoveries`` the expert also starts from a disturbed state and/or a slowed lead pulls out
    (``add_recovery``); with probability ``stop_and_go`` the lead stops and drives off again, or the ego starts
    stopped behind it (``add_stop_and_go``); with probability ``approach`` the run starts closing in on a slower
    lead inside the camera range (``add_approach``). Each draw has its own stream: the rest of the scene is the
    same as without."""
    check_shares(recoveries=recoveries, stop_and_go=stop_and_go, approach=approach)
    scenario = _random_scenario(seed)
    if recoveries > 0.0 and np.random.default_rng([int(seed), 0xDA27]).random() < recoveries:
        add_recovery(scenario, seed)
    if stop_and_go > 0.0 and np.random.default_rng([int(seed), 0x5706]).random() < stop_and_go:
        add_stop_and_go(scenario, seed)
    if approach > 0.0 and np.random.default_rng([int(seed), 0xA990]).random() < approach:
        add_approach(scenario, seed)
    return scenario


#: what a held lane offset leaves between the car's side and the lane line (LKA overshoot in curves)
LANE_OFFSET_MARGIN_M = 0.15


def lane_offset(seed: int, share: float, lane_width_m: float = 3.5) -> float:
    """The lane position the expert's LKA holds in a run (`lka_lane_offset_m`, + left of the centre): 0 in most
    runs; in a share of them 0.3-0.9 m to either side, drawn from the run's own stream (seed, 0x1A0F), and no
    more than leaves 0.15 m between the car and the line (a 3.3 m lane: 0.6 m), so the car stays in its lane.

    Why: the expert keeps the car within +-0.15 m (std) of the centre, so a network trained on its frames learns
    to draw the lane around the car. Its lane centre then follows the car's true offset with a slope of only
    ~0.25, and in closed loop the car sits 0.6-0.9 m outside the centre in curves while the model sees it
    centred (perception/MODEL.md, "Lane blend"). Held offsets show the cameras the car off-centre in every frame
    of the run, on straights and in curves. The futures are then the expert's offset path, so these frames
    teach perception (lane and drivable masks, objects), not a planner."""
    check_shares(lane_offsets=share)
    rng = np.random.default_rng([int(seed), 0x1A0F])
    if share <= 0.0 or rng.random() >= share:
        return 0.0
    side, size = float(rng.choice([-1.0, 1.0])), float(rng.uniform(0.3, 0.9))
    room = lane_width_m / 2.0 - DEFAULT_CAR.width_m / 2.0 - LANE_OFFSET_MARGIN_M
    return round(side * max(0.0, min(size, room)), 2)


def add_approach(scenario: dict, seed: int) -> dict:
    """Start the run closing in on a slower lead 20-50 m ahead (inside the 50 m BEV range), 3-12 m/s slower than
    the ego and no slower than a stop within 4 m/s^2 allows; the expert (ACC, AEB) is seen braking from the first
    frame. Why: in the random scenes the expert keeps its gap, so a closing lead near the car is a state the data
    never show before the expert has already started braking; a planner trained on them leaves the braking to
    its own measured deceleration and does not react to the lead (measured, perception/MODEL.md, "Tracked
    lead input"). The lead (the nearest ego-lane car ahead, moved to the drawn gap, or a new car) keeps its
    speed: its own actions are dropped. Draws from its own stream (seed, 0xA990)."""
    rng = np.random.default_rng([int(seed), 0xA990, 1])
    ego = scenario["ego"]
    ego_lane, ego_s = int(ego["lane"]), float(ego["s_m"])
    v_ego = float(ego["speed_kph"]) * KPH
    own = sorted((a for a in scenario.get("actors", []) if a.get("lane") == ego_lane and "d_offset_m" not in a
                  and a.get("behavior", {}).get("type") == "idm" and a["s_m"] > ego_s), key=lambda a: a["s_m"])
    if own:
        lead = own[0]
    else:
        lead = {"id": f"car_{len(scenario.setdefault('actors', []))}", "type": "car",
                "size": {"length_m": 4.5, "width_m": 1.8, "height_m": 1.5}, "color": [120, 40, 40],
                "lane": ego_lane, "s_m": 0.0, "speed_kph": 0.0,
                "behavior": {"type": "idm", "idm": {"desired_speed_kph": 0.0, "time_headway_s": 1.5,
                                                    "min_gap_m": 2.0, "max_accel_mps2": 1.5,
                                                    "comfort_decel_mps2": 2.0}}}
        scenario["actors"].append(lead)
    gap = float(rng.uniform(20.0, 50.0))                          # bumper to bumper
    dv = float(rng.uniform(3.0, 12.0))
    dv = min(dv, math.sqrt(2.0 * 4.0 * (gap - 6.0)), v_ego - 1.5)  # stoppable at 4 m/s^2 with 6 m to spare
    v_lead_kph = round(max(1.5, v_ego - dv) / KPH, 1)               # the lead keeps moving (IDM needs v0 > 0)
    lead["s_m"] = round(ego_s + EGO_HALF_LENGTH_M + gap + lead["size"]["length_m"] / 2, 1)
    lead["speed_kph"] = v_lead_kph
    lead["behavior"]["idm"]["desired_speed_kph"] = v_lead_kph
    lead["behavior"].pop("actions", None)
    scenario["tags"] = list(scenario.get("tags", [])) + ["approach"]
    return scenario


def add_stop_and_go(scenario: dict, seed: int) -> dict:
    """Make the expert show stop-and-go, which the random scenes lack (a braking lead there stays stopped, and
    no run starts at standstill): a model trained without it learns that a stopped or slow car stays stopped
    (measured: in the driving suite the e2e car braked to a standstill behind a lead slowing to 20 km/h and never
    drove off again). Half the time the ego's lead brakes to a stop 3-8 s into the run, waits 2-6 s and drives
    off again; otherwise the ego starts stopped 4-9 m behind a stopped lead that drives off after 1-4 s, and
    the ego-lane traffic behind it is removed (nothing behind may run into a car that starts stopped). The
    expert's ACC holds at standstill and follows the lead off (adas/acc.py, stop-and-go)."""
    rng = np.random.default_rng([int(seed), 0x5706, 1])
    ego = scenario["ego"]
    ego_lane, ego_s = int(ego["lane"]), float(ego["s_m"])

    def lane_traffic(a: dict) -> bool:       # IDM traffic driving in the ego lane (not parked on a shoulder)
        return a.get("lane") == ego_lane and a.get("behavior", {}).get("type") == "idm" and "d_offset_m" not in a

    own = sorted((a for a in scenario.get("actors", []) if lane_traffic(a) and a["s_m"] > ego_s),
                 key=lambda a: a["s_m"])
    v_ego = float(ego["speed_kph"]) * KPH
    if own:
        lead = own[0]
    else:
        lead = {"id": f"car_{len(scenario.setdefault('actors', []))}", "type": "car",
                "size": {"length_m": 4.5, "width_m": 1.8, "height_m": 1.5}, "color": [90, 90, 100],
                "lane": ego_lane, "s_m": round(ego_s + max(25.0, 1.8 * v_ego + 12.0), 1),
                "speed_kph": float(ego["speed_kph"]),
                "behavior": {"type": "idm", "idm": {"desired_speed_kph": float(ego["speed_kph"]),
                                                    "time_headway_s": 1.5, "min_gap_m": 2.0,
                                                    "max_accel_mps2": 1.5, "comfort_decel_mps2": 2.0}}}
        scenario["actors"].append(lead)
    v_lead = max(float(lead.get("speed_kph", 0.0)), 30.0)
    accel = round(float(rng.uniform(1.0, 2.5)), 2)
    if rng.random() < 0.5:                                   # the lead stops and drives off again
        t_brake = float(rng.uniform(3.0, 8.0))
        decel = float(rng.uniform(2.0, 4.0))
        t_go = t_brake + v_lead * KPH / decel + 1.0 + float(rng.uniform(2.0, 6.0))
        lead["behavior"]["actions"] = [
            {"trigger": {"time_s": round(t_brake, 1)},
             "brake": {"decel_mps2": round(decel, 2), "ramp_s": round(float(rng.uniform(0.5, 1.0)), 2)}},
            {"trigger": {"time_s": round(t_go, 1)}, "set_speed": {"speed_kph": round(v_lead, 1), "accel_mps2": accel}}]
        tag = "stop_and_go"
    else:                                                    # the ego starts stopped behind a stopped lead
        ego["speed_kph"] = 0.0
        # s is the box centre: bumper gap = 4-9 m
        lead["s_m"] = round(ego_s + EGO_HALF_LENGTH_M + float(rng.uniform(4.0, 9.0)) + lead["size"]["length_m"] / 2, 1)
        lead["speed_kph"] = 0.0
        lead["behavior"]["actions"] = [{"trigger": {"time_s": round(float(rng.uniform(1.0, 4.0)), 1)},
                                        "set_speed": {"speed_kph": round(v_lead, 1), "accel_mps2": accel}}]
        # nothing else in the ego lane: cars ahead would block the start, cars behind would run into the ego
        scenario["actors"] = [a for a in scenario["actors"] if a is lead or not lane_traffic(a)]
        tag = "standing_start"
    scenario["tags"] = list(scenario.get("tags", [])) + [tag]
    return scenario


def add_recovery(scenario: dict, seed: int) -> dict:
    """Make the expert show recoveries (DART's point: a model trained on the expert's states alone never sees
    the car off-centre or slowed, and learns to draw the lane around the car and to keep its own braking going;
    perception/MODEL.md, "Lane blend"). The ego starts 0.25-0.6 m off its lane centre with up to 1 degree of
    heading error and at 55-90 % of its ACC set speed, so LKA and ACC are seen bringing it back; a lead that
    slows down later pulls out into a free neighbouring lane 2-5 s after, so the expert is seen accelerating
    out of a slow-down. Draws from its own stream (seed, 0xDA27): the scene otherwise stays as it was."""
    rng = np.random.default_rng([int(seed), 0xDA27, 1])
    ego = scenario["ego"]
    set_kph = float(ego["adas"]["acc_set_speed_kph"])
    ego["d_offset_m"] = round(float(rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.6)), 2)
    ego["heading_offset_deg"] = round(float(rng.uniform(-1.0, 1.0)), 2)
    ego["speed_kph"] = round(max(20.0, set_kph * float(rng.uniform(0.55, 0.9))), 1)
    lanes, ego_lane = int(scenario["road"]["lanes"]), int(ego["lane"])
    for a in scenario.get("actors", []):
        acts = a.get("behavior", {}).get("actions", [])
        if a.get("lane") != ego_lane or not acts or "set_speed" not in acts[0]:
            continue
        free = [k for k in (ego_lane - 1, ego_lane + 1) if 0 <= k < lanes]
        if free:
            t = float(acts[0]["trigger"]["time_s"]) + float(rng.uniform(2.0, 5.0))
            acts.append({"trigger": {"time_s": round(t, 1)},
                         "lane_change": {"to_lane": int(rng.choice(free)), "duration_s": round(float(rng.uniform(2.5, 4.0)), 2)}})
        break
    scenario["tags"] = list(scenario.get("tags", [])) + ["recovery"]
    return scenario


def _random_scenario(seed: int) -> dict:
    rng = np.random.default_rng([int(seed), 0x5CE7])
    lanes = int(rng.integers(1, 5))
    width = round(float(rng.uniform(3.2, 3.8)), 3)
    ego_lane = int(rng.integers(0, lanes))
    speed = round(float(rng.uniform(30.0, 110.0)), 1)
    set_speed = round(float(np.clip(speed * rng.uniform(0.95, 1.1), 30.0, 120.0)), 1)
    duration = round(float(rng.uniform(20.0, 30.0)), 1)
    v_ego = speed * KPH
    road_len = EGO_S_M + set_speed * KPH * duration + 400.0
    between = "dashed" if rng.random() < 0.85 else "solid"
    scenario: dict = {
        "name": f"random_{int(seed)}",
        "description": "randomized dataset scenario (perception.data.scenario_gen)",
        "tags": ["random", "dataset"],
        "seed": int(seed),
        "duration_s": duration,
        "dt_s": 0.01,
        "road": {"lanes": lanes, "lane_width_m": width, "segments": _road(rng, road_len, set_speed),
                 "markings": {"edge": "solid", "between": between}},
        "ego": {"lane": ego_lane, "s_m": EGO_S_M, "speed_kph": speed,
                "adas": {"acc": True, "acc_set_speed_kph": set_speed, "lka": True, "aeb": True},
                "driver": {"model": "idle"}},
        "end": {"collision": True},
        "success": {"no_collision": True},
    }
    actors: list[dict] = []

    def add(kind: str, **fields) -> dict:
        a = {"id": f"{kind}_{len(actors)}", "type": kind, "size": _size(rng, kind), "color": _color(rng), **fields}
        actors.append(a)
        return a

    # --- traffic: IDM cars/trucks in every lane, ahead and behind, spaced by at least a safe gap.
    density = float(rng.uniform(0.3, 1.0))
    cut_in_done = False
    for lane in range(lanes):
        own = lane == ego_lane
        lane_kph = speed * float(rng.uniform(0.85, 1.2)) if not own else speed
        # ahead
        s = EGO_S_M + (max(25.0, 1.8 * v_ego + 12.0) if own else float(rng.uniform(-5.0, 40.0)))
        first = True
        while s < EGO_S_M + 250.0:
            if rng.random() < density:
                truck = rng.random() < 0.2
                kind = "truck" if truck else "car"
                v_kph = float(np.clip(lane_kph * rng.uniform(0.75, 1.05) if own else lane_kph * rng.uniform(0.9, 1.1),
                                      20.0, 130.0))
                a = add(kind, lane=lane, s_m=round(s, 1), speed_kph=round(v_kph, 1),
                        behavior={"type": "idm", "idm": _idm(rng, v_kph * rng.uniform(1.0, 1.1), truck)})
                if own and first and rng.random() < 0.3:
                    # a braking lead: slows down (or stops) later in the run; ACC/AEB must follow
                    if rng.random() < 0.6:
                        act = {"set_speed": {"speed_kph": round(v_kph * float(rng.uniform(0.3, 0.7)), 1),
                                             "accel_mps2": round(float(rng.uniform(1.0, 3.0)), 2)}}
                    else:
                        act = {"brake": {"decel_mps2": round(float(rng.uniform(1.5, 3.5)), 2),
                                         "ramp_s": round(float(rng.uniform(0.5, 1.5)), 2)}}
                    a["behavior"]["actions"] = [{"trigger": {"time_s": round(float(rng.uniform(4.0, 14.0)), 1)},
                                                 **act}]
                elif (not own and abs(lane - ego_lane) == 1 and not cut_in_done and first
                      and s > EGO_S_M + 15.0 and rng.random() < 0.35):
                    # a cut-in from the adjacent lane once the ego closes in
                    cut_in_done = True
                    a["behavior"]["actions"] = [{"trigger": {"gap_m": round(max(18.0, 1.0 * v_ego) *
                                                                            float(rng.uniform(1.0, 1.5)), 1)},
                                                 "lane_change": {"to_lane": ego_lane, "duration_s":
                                                                 round(float(rng.uniform(2.5, 4.5)), 2)}}]
                first = False
                s += a["size"]["length_m"] + max(15.0, v_kph * KPH * float(rng.uniform(1.6, 3.0)))
            else:
                s += float(rng.uniform(15.0, 40.0))
        # behind
        s = EGO_S_M - (max(15.0, 1.5 * v_ego + 8.0) if own else float(rng.uniform(8.0, 30.0)))
        while s > EGO_S_M - 120.0:
            if rng.random() < density * 0.7:
                truck = rng.random() < 0.15
                v_kph = float(np.clip(lane_kph * rng.uniform(0.9, 1.05), 20.0, 130.0))
                idm = _idm(rng, v_kph, truck)
                idm["time_headway_s"] = round(max(idm["time_headway_s"], 1.8), 2) if own else idm["time_headway_s"]
                idm["comfort_decel_mps2"] = max(idm["comfort_decel_mps2"], 2.5) if own else idm["comfort_decel_mps2"]
                a = add("truck" if truck else "car", lane=lane, s_m=round(s, 1), speed_kph=round(v_kph, 1),
                        behavior={"type": "idm", "idm": idm})
                s -= a["size"]["length_m"] + max(15.0, v_kph * KPH * float(rng.uniform(1.6, 3.0)))
            else:
                s -= float(rng.uniform(15.0, 40.0))

    right_edge = -width / 2
    left_edge = (lanes - 0.5) * width
    # --- static obstacles / parked vehicles on the shoulders (clear of the lanes)
    for _ in range(int(rng.integers(0, 4))):
        kind = str(rng.choice(["obstacle", "obstacle", "car", "truck"]))
        a = add(kind, lane=0, s_m=round(EGO_S_M + float(rng.uniform(20.0, v_ego * duration)), 1),
                behavior={"type": "static"}, heading_deg=round(float(rng.uniform(-10.0, 10.0)), 1))
        half = a["size"]["width_m"] / 2
        if rng.random() < 0.5:
            a["d_offset_m"] = round(right_edge - float(rng.uniform(1.0, 3.0)) - half, 2)
        else:
            a["lane"] = lanes - 1
            a["d_offset_m"] = round(width / 2 + float(rng.uniform(1.0, 3.0)) + half, 2)
    # --- static obstacle in another lane (the IDM traffic of that lane queues behind it)
    if lanes > 1 and rng.random() < 0.25:
        lane = int(rng.choice([k for k in range(lanes) if k != ego_lane]))
        add("obstacle", lane=lane, s_m=round(EGO_S_M + float(rng.uniform(60.0, 300.0)), 1),
            behavior={"type": "static"})
    # --- pedestrians crossing well ahead: they clear the ego lane before the ego can get there
    if rng.random() < 0.3:
        v_p = float(rng.uniform(0.8, 1.8)) if rng.random() < 0.7 else float(rng.uniform(3.0, 5.0))
        kind = "pedestrian" if v_p < 2.5 else "cyclist"
        from_right = rng.random() < 0.5
        start_d = right_edge - 1.5 if from_right else left_edge + 1.5
        lane_d = ego_lane * width
        clear_dist = abs((lane_d + width / 2 + 1.0 if from_right else lane_d - width / 2 - 1.0) - start_d)
        t_arrive = clear_dist / v_p + float(rng.uniform(3.0, 10.0))
        s_p = EGO_S_M + set_speed * KPH * t_arrive + 10.0
        add(kind, lane=0, s_m=round(s_p, 1), d_offset_m=round(start_d, 2), speed_kph=round(v_p / KPH, 1),
            heading_deg=90.0 if from_right else -90.0, behavior={"type": "straight"})
    # --- cyclist riding on the right edge, ahead
    if rng.random() < 0.2:
        v_c = float(rng.uniform(12.0, 25.0))
        add("cyclist", lane=0, s_m=round(EGO_S_M + float(rng.uniform(40.0, 200.0)), 1),
            d_offset_m=round(-width / 2 - float(rng.uniform(0.3, 0.6)), 2), speed_kph=round(v_c, 1),
            behavior={"type": "lane_follow"})
    # --- road-side VRUs and clutter the ego drives past (detection needs every class in every split):
    # pedestrians standing or walking along either shoulder, cyclists on the shoulder, debris/cones off the road.
    ahead = (20.0, 20.0 + v_ego * duration)

    def shoulder_offset(half: float, lo: float, hi: float) -> tuple[int, float]:
        if rng.random() < 0.5:
            return 0, round(right_edge - float(rng.uniform(lo, hi)) - half, 2)
        return lanes - 1, round(width / 2 + float(rng.uniform(lo, hi)) + half, 2)

    if rng.random() < 0.7:
        for _ in range(int(rng.integers(1, 5))):
            lane, d = shoulder_offset(0.3, 1.5, 5.0)
            walking = rng.random() < 0.6
            add("pedestrian", lane=lane, s_m=round(EGO_S_M + float(rng.uniform(*ahead)), 1), d_offset_m=d,
                speed_kph=round(float(rng.uniform(2.0, 6.0)) if walking else 0.0, 1),
                heading_deg=round(float(rng.choice([0.0, 170.0]) + rng.uniform(-10.0, 10.0)), 1),
                behavior={"type": "straight" if walking else "static"})
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(1, 3))):
            lane, d = shoulder_offset(0.35, 0.8, 3.0)
            add("cyclist", lane=lane, s_m=round(EGO_S_M + float(rng.uniform(*ahead)), 1), d_offset_m=d,
                speed_kph=round(float(rng.uniform(10.0, 25.0)), 1),
                heading_deg=180.0 if rng.random() < 0.3 else 0.0,
                behavior={"type": "straight"})
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(1, 4))):
            a = add("obstacle", lane=0, s_m=round(EGO_S_M + float(rng.uniform(*ahead)), 1),
                    heading_deg=round(float(rng.uniform(-45.0, 45.0)), 1), behavior={"type": "static"})
            a["lane"], a["d_offset_m"] = shoulder_offset(max(a["size"]["width_m"], a["size"]["length_m"]) / 2, 1.0, 4.0)
    if actors:
        scenario["actors"] = actors
    return scenario
