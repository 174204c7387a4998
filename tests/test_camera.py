"""Behavioural tests of the numpy camera renderer (geometry, occlusion, clipping, determinism)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vehicle_sim.camera import (
    Box,
    CameraSpec,
    RenderScene,
    Renderer,
    box_corners,
    camera_info,
    default_rig,
    example_scene,
    project_points,
    render,
)

RED = (220, 20, 20)
BLUE = (20, 40, 220)
SKY = (120, 170, 230)
GROUND = (86, 118, 64)


def _front(width: int = 256, height: int = 128) -> CameraSpec:
    return default_rig(width, height)[0]


def _level_front() -> CameraSpec:
    """Front camera without pitch so the optical axis is horizontal (simple expected geometry)."""
    f = default_rig()[0]
    return CameraSpec("level", f.width, f.height, f.fx, f.fy, f.cx, f.cy, f.x, f.y, f.z)


def _empty_scene(boxes: list[Box]) -> RenderScene:
    return RenderScene(boxes=boxes, sky_rgb=SKY, ground_rgb=GROUND, sun_dir=(0.0, 0.0, 1.0))


def _is_colour(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 60) -> np.ndarray:
    """Pixels close to a shaded version of ``rgb`` (dominant channel check)."""
    c = int(np.argmax(rgb))
    other = [i for i in range(3) if i != c]
    return (img[..., c].astype(int) - img[..., other].max(axis=-1).astype(int)) > tol


def test_box_straight_ahead_is_centred_with_expected_width():
    cam = _level_front()
    dist = 20.0  # camera to the box's near face
    width = 2.0
    box = Box(cam.x + dist + 0.5, 0.0, cam.z, 1.0, width, 1.0, 0.0, RED, "obstacle")
    img = render(cam, (0.0, 0.0, 0.0), _empty_scene([box]), shadows=False)
    row = int(round(cam.cy))
    cols = np.flatnonzero(_is_colour(img[row], RED))
    assert len(cols) > 0
    expected = cam.fx * width / dist
    assert abs(len(cols) - expected) <= 2.0
    centre = (cols[0] + cols[-1]) / 2.0
    assert abs(centre - cam.cx) <= 1.0
    assert np.all(np.diff(cols) == 1)  # one solid run


def test_ego_pose_moves_the_view():
    cam = _level_front()
    box = Box(100.0 + cam.x + 20.5, 50.0, cam.z, 1.0, 2.0, 1.0, math.pi / 2, RED, "obstacle")
    # Ego at (100, 50) heading +x sees the box straight ahead, as in the test above.
    img = render(cam, (100.0, 50.0, 0.0), _empty_scene([box]), shadows=False)
    cols = np.flatnonzero(_is_colour(img[int(round(cam.cy))], RED))
    assert abs((cols[0] + cols[-1]) / 2.0 - cam.cx) <= 1.0
    # Turning the ego 90 deg left puts the box to the right of the image, out of a 60 deg view.
    img2 = render(cam, (100.0, 50.0, math.pi / 2), _empty_scene([box]), shadows=False)
    assert not _is_colour(img2, RED).any()


def test_object_behind_camera_does_not_appear():
    cam = _front()
    behind = Box(-10.0, 0.0, 1.0, 4.0, 2.0, 2.0, 0.0, RED, "car")
    img = render(cam, (0.0, 0.0, 0.0), _empty_scene([behind]))
    assert not _is_colour(img, RED).any()
    empty = render(cam, (0.0, 0.0, 0.0), _empty_scene([]))
    np.testing.assert_array_equal(img, empty)


def test_box_straddling_camera_plane_does_not_wrap():
    """A long box beside the car reaching behind the camera is clipped, not mirrored to the other side."""
    cam = _level_front()
    box = Box(cam.x, 3.0, 1.0, 30.0, 1.5, 2.0, 0.0, RED, "obstacle")  # starts 15 m behind the camera
    img = render(cam, (0.0, 0.0, 0.0), _empty_scene([box]), shadows=False)
    mask = _is_colour(img, RED)
    assert mask.any()
    cols = np.flatnonzero(mask.any(axis=0))
    assert cols.max() < cam.cx  # box is on the left (y > 0): nothing on the right half


def test_near_box_occludes_far_box():
    cam = _level_front()
    near = Box(15.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, RED, "obstacle")
    far = Box(30.0, 0.0, 1.5, 1.0, 6.0, 3.0, 0.0, BLUE, "obstacle")
    for boxes in ([near, far], [far, near]):  # order in the list must not matter
        img = render(cam, (0.0, 0.0, 0.0), _empty_scene(boxes), shadows=False)
        cy, cx = int(round(cam.cy)), int(round(cam.cx))
        assert _is_colour(img[cy, cx][None], RED)[0]
        # far box still visible around the near one
        assert _is_colour(img, BLUE).any()
    only_far = render(cam, (0.0, 0.0, 0.0), _empty_scene([far]), shadows=False)
    assert _is_colour(only_far[int(round(cam.cy)), int(round(cam.cx))][None], BLUE)[0]


def test_render_is_deterministic_bytes():
    scene = example_scene(curvature=0.003)
    cam = default_rig(256, 128)[1]
    a = render(cam, (5.0, 0.3, 0.05), scene)
    b = Renderer().render(cam, (5.0, 0.3, 0.05), scene)  # fresh caches too
    c = render(cam, (5.0, 0.3, 0.05), scene)
    assert a.dtype == np.uint8 and a.shape == (128, 256, 3)
    assert a.tobytes() == b.tobytes() == c.tobytes()


def test_lane_markings_visible_left_and_right_of_centre():
    scene = example_scene(lanes=3, n_boxes=0)
    cam = _front()
    # ego in the middle lane (lane 1 centred on y = 3.5)
    img = render(cam, (0.0, 3.5, 0.0), scene)
    band = img[cam.height // 2 + 12 :].astype(int)  # ground rows (dashes: look at a band, not one row)
    white = band.min(axis=2) > 170
    cols = np.flatnonzero(white.any(axis=0))
    assert (cols < cam.cx - 10).any() and (cols > cam.cx + 10).any()
    # the asphalt between them is dark and grey
    centre = img[-1, int(cam.cx)].astype(int)
    assert centre.max() < 110 and centre.max() - centre.min() < 20


def test_dashed_marking_has_gaps():
    left = np.array([[0.0, 5.0], [200.0, 5.0]])
    right = np.array([[0.0, -5.0], [200.0, -5.0]])
    line = np.array([[0.0, 1.75], [100.0, 1.75], [200.0, 1.75]])
    scene_d = RenderScene(road_strips=[(left, right, (60, 60, 60))],
                          markings=[(line, 0.15, False, (240, 240, 240))], dash_pattern=(3.0, 9.0))
    scene_s = RenderScene(road_strips=[(left, right, (60, 60, 60))],
                          markings=[(line, 0.15, True, (240, 240, 240))])
    cam = _front()
    # sample the line at many distances: the dashed one must be white at some and asphalt at others
    xs = np.arange(6.0, 16.0, 0.25)
    pts = np.column_stack([xs, np.full_like(xs, 1.75), np.zeros_like(xs)])
    uv, _, vis = project_points(cam, (0.0, 0.0, 0.0), pts)
    assert vis.all()
    img_d = render(cam, (0.0, 0.0, 0.0), scene_d)
    img_s = render(cam, (0.0, 0.0, 0.0), scene_s)
    u, v = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    white_d = img_d[v, u].min(axis=1) > 150
    white_s = img_s[v, u].min(axis=1) > 150
    assert white_s.all()
    assert white_d.any() and (~white_d).any()


def test_camera_info_consistent_with_project_points():
    for cam in default_rig():
        info = camera_info(cam)
        assert info.K.shape == (3, 3) and info.P.shape == (3, 4) and info.D.shape == (5,)
        np.testing.assert_allclose(info.T_ego_to_cam @ info.T_cam_to_ego, np.eye(4), atol=1e-12)
        rng = np.random.default_rng(0)
        ego_pose = (12.0, -3.0, 0.4)
        pts = rng.uniform([-30, -30, 0], [30, 30, 3], size=(200, 3)) + np.array([12.0, -3.0, 0.0])
        uv, depth, vis = project_points(cam, ego_pose, pts)
        # world -> ego by hand, then the 4x4 extrinsic and P
        c, s = math.cos(ego_pose[2]), math.sin(ego_pose[2])
        d = pts - np.array([ego_pose[0], ego_pose[1], 0.0])
        ego = np.column_stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]])
        pc = (info.T_ego_to_cam @ np.column_stack([ego, np.ones(len(ego))]).T)
        proj = info.P @ pc
        np.testing.assert_allclose(depth, proj[2], atol=1e-9)
        front = depth > 0.1
        np.testing.assert_allclose(uv[front], (proj[:2] / proj[2]).T[front], atol=1e-6)
        assert np.isnan(uv[depth <= 0]).all()
        assert not vis[depth <= 0].any()


def test_optical_frame_convention():
    cam = _level_front()
    info = camera_info(cam)
    r = info.T_cam_to_ego[:3, :3]
    np.testing.assert_allclose(r @ [0, 0, 1], [1, 0, 0], atol=1e-12)  # optical z = ego forward
    np.testing.assert_allclose(r @ [1, 0, 0], [0, -1, 0], atol=1e-12)  # optical x = right
    np.testing.assert_allclose(r @ [0, 1, 0], [0, 0, -1], atol=1e-12)  # optical y = down
    uv, depth, vis = project_points(cam, (0, 0, 0), np.array([[cam.x + 10, 0.0, cam.z]]))
    np.testing.assert_allclose(uv[0], [cam.cx, cam.cy], atol=1e-9)
    assert depth[0] == pytest.approx(10.0)


def test_projected_box_corners_bound_rendered_pixels():
    cam = _front()
    box = Box(18.0, 2.0, 0.75, 4.5, 1.8, 1.5, 0.3, RED, "car")
    img = render(cam, (0.0, 0.0, 0.0), _empty_scene([box]), shadows=False)
    mask = _is_colour(img, RED, tol=30)
    vs, us = np.nonzero(mask)
    uv, _, vis = project_points(cam, (0.0, 0.0, 0.0), box_corners(box))
    assert vis.all() and len(us) > 0
    assert us.min() >= uv[:, 0].min() - 1 and us.max() <= uv[:, 0].max() + 1
    assert vs.min() >= uv[:, 1].min() - 1 and vs.max() <= uv[:, 1].max() + 1


def test_rig_has_three_distinct_cameras():
    rig = default_rig()
    assert len(rig) >= 3
    assert len({c.name for c in rig}) == len(rig)
    poses = {(c.x, c.y, c.z, c.roll, c.pitch, c.yaw) for c in rig}
    assert len(poses) == len(rig)
    front = rig[0]
    assert front.name == "front" and (front.width, front.height) == (256, 128)
    hfov = math.degrees(2 * math.atan(front.width / 2 / front.fx))
    assert hfov == pytest.approx(60.0)
    for cam in rig:
        img = render(cam, (0.0, 0.0, 0.0), example_scene())
        assert img.shape == (cam.height, cam.width, 3)


def test_supersample_keeps_size_and_geometry():
    cam = _level_front()
    box = Box(cam.x + 20.5, 0.0, cam.z, 1.0, 2.0, 1.0, 0.0, RED, "obstacle")
    img = render(cam, (0.0, 0.0, 0.0), _empty_scene([box]), supersample=2, shadows=False)
    assert img.shape == (cam.height, cam.width, 3)
    cols = np.flatnonzero(_is_colour(img[int(round(cam.cy))], RED))
    assert abs(len(cols) - cam.fx * 2.0 / 20.0) <= 2.0
    assert abs((cols[0] + cols[-1]) / 2.0 - cam.cx) <= 1.0


def test_sky_above_ground_below_horizon():
    cam = _level_front()
    img = render(cam, (0.0, 0.0, 0.0), _empty_scene([]))
    top = img[0, cam.width // 2].astype(int)
    bottom = img[-1, cam.width // 2].astype(int)
    assert top[2] > top[1] > top[0]  # bluish sky
    assert bottom[1] > bottom[0] and bottom[1] > bottom[2]  # green grass


def test_shading_depends_on_sun():
    cam = _front()
    box = Box(15.0, -3.0, 1.0, 2.0, 2.0, 2.0, 0.0, (200, 200, 200), "obstacle")
    lit = RenderScene(boxes=[box], sun_dir=(-1.0, 0.0, 0.3))  # sun behind the camera lights the front
    dark = RenderScene(boxes=[box], sun_dir=(1.0, 0.0, 0.3))
    uv, _, _ = project_points(cam, (0, 0, 0), np.array([[14.0, -3.0, 1.0]]))
    u, v = np.round(uv[0]).astype(int)
    a = render(cam, (0, 0, 0), lit)[v, u].astype(int)
    b = render(cam, (0, 0, 0), dark)[v, u].astype(int)
    assert a.sum() > b.sum() + 60


def test_rolled_camera_tilts_horizon_and_stays_deterministic():
    import dataclasses

    cam = dataclasses.replace(_level_front(), roll=0.1)
    scene = _empty_scene([])
    img = render(cam, (0.0, 0.0, 0.0), scene)
    assert img.tobytes() == Renderer().render(cam, (0.0, 0.0, 0.0), scene).tobytes()
    green = (img[..., 1].astype(int) > img[..., 2].astype(int))
    first_ground_row = [int(np.argmax(green[:, u])) for u in (10, cam.width - 10)]
    # a rolled camera sees a sloped horizon
    assert abs(first_ground_row[0] - first_ground_row[1]) > 10


def test_rig_file_matches_default_rig_and_errors_name_the_field(tmp_path):
    from pathlib import Path

    from vehicle_sim.camera import default_rig, load_rig

    shipped = Path(__file__).resolve().parents[1] / "ros_ws/src/edgepilot_nodes/config/camera_rig.yaml"
    rig = load_rig(shipped)
    for a, b in zip(rig, default_rig()):
        assert a.name == b.name
        assert np.allclose([a.fx, a.fy, a.cx, a.cy, a.x, a.y, a.z, a.roll, a.pitch, a.yaw],
                           [b.fx, b.fy, b.cx, b.cy, b.x, b.y, b.z, b.roll, b.pitch, b.yaw])
    bad = tmp_path / "rig.yaml"
    bad.write_text("cameras:\n  - {name: f, width: 64, height: 32, hfov_deg: 60, pitch: 3}\n")
    with pytest.raises(ValueError, match=r"rig.yaml: cameras\[0\]: unknown field\(s\) pitch"):
        load_rig(bad)
    bad.write_text("cameras:\n  - {name: f, width: 64, height: 32}\n")
    with pytest.raises(ValueError, match=r"cameras\[0\]: give exactly one of hfov_deg or fx"):
        load_rig(bad)
    bad.write_text("cameras:\n  - {name: f, width: 64.5, height: 32, fx: 50}\n")
    with pytest.raises(ValueError, match=r"cameras\[0\].width: 64.5 must be an integer"):
        load_rig(bad)
