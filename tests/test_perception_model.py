"""Behaviour of the end-to-end driving model: matcher, metrics, shapes, learning, ONNX parity, train/resume."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from perception.metrics import collision_rate, detection_map, l2_at, lane_iou
from perception.model import (E2EDrivingModel, apply_meta, config_from_dict, count_flops, export_onnx, load_config,
                              load_model)
from perception.model.losses import total_loss
from perception.model.matcher import hungarian_match
from perception.model.network import bev_sampling_table, dummy_inputs, motion_prior
from perception.train import load_split, to_batch, train
from perception_fixtures import make_arrays, make_meta, write_dataset

TINY = Path(__file__).resolve().parents[1] / "perception" / "configs" / "tiny.yaml"


def tiny_model(seed: int = 0) -> tuple[E2EDrivingModel, dict]:
    torch.manual_seed(seed)
    meta = make_meta()
    cfg = apply_meta(load_config(TINY), meta)
    from perception.model import rig_from_meta
    return E2EDrivingModel(cfg, rig_from_meta(meta)), meta


# ---------------------------------------------------------------------------------------------------- matcher
def test_hungarian_recovers_permutation():
    gt_boxes = np.array([[0.1, 0.1, 1, 0.5, 0, 1, 0, 0], [0.5, 0.8, 2, 0.7, 0, 1, 0, 0], [0.9, 0.3, 0, 0, 1, 0, 0, 0]])
    gt_cls = np.array([0, 2, 4])
    perm = np.array([2, 0, 1])  # query q predicts gt perm[q]
    boxes = gt_boxes[perm] + 0.01
    probs = np.full((3, 6), 0.02)
    probs[np.arange(3), gt_cls[perm]] = 0.9
    rows, cols = hungarian_match(probs, boxes, gt_cls, gt_boxes)
    assert dict(zip(rows.tolist(), cols.tolist())) == {0: 2, 1: 0, 2: 1}


def test_hungarian_empty_gt():
    rows, cols = hungarian_match(np.ones((4, 6)) / 6, np.zeros((4, 8)), np.zeros(0), np.zeros((0, 8)))
    assert len(rows) == len(cols) == 0


# ---------------------------------------------------------------------------------------------------- metrics
def _gts():
    return [np.array([[0, 10.0, 2.0], [2, 20.0, -3.0]]), np.array([[0, 30.0, 0.0]])]


def test_map_perfect_is_one_and_misses_lower_it():
    gts = _gts()
    perfect = [np.c_[g, np.ones(len(g))] for g in gts]
    assert detection_map(perfect, gts)["mAP"] == pytest.approx(1.0)
    shifted = [np.c_[g[:, 0], g[:, 1] + 1.5, g[:, 2], np.ones(len(g))] for g in gts]  # 1.5 m off: TP at 2 and 4 m only
    res = detection_map(shifted, gts)
    assert res["mAP"] == pytest.approx(0.5)
    assert set(res["AP"]) == {"car", "pedestrian"}  # classes absent from the GT are not averaged
    assert detection_map([np.zeros((0, 4)), np.zeros((0, 4))], gts)["mAP"] == 0.0


def test_map_by_range_scores_each_bin_on_its_own_objects():
    from perception.metrics import detection_map_by_range

    gts = _gts()            # a car at 10.2 m and a pedestrian at 20.2 m in frame 0, a car at 30 m in frame 1
    # the near car found exactly, the pedestrian 1.5 m off (a hit at 2 and 4 m only), the far car missed
    preds = [np.array([[0, 10.0, 2.0, 0.9], [2, 21.5, -3.0, 0.8]]), np.zeros((0, 4))]
    res = detection_map_by_range(preds, gts, edges=(0, 15, 25, 60))
    assert res["0-15m"] == {"mAP": pytest.approx(1.0), "AP": {"car": pytest.approx(1.0)}, "objects": 1}
    assert res["15-25m"]["mAP"] == pytest.approx(0.5) and res["15-25m"]["objects"] == 1
    assert res["25-60m"]["mAP"] == 0.0 and res["25-60m"]["objects"] == 1
    empty = detection_map_by_range(preds, gts, edges=(0, 5))       # no object in the bin: nan, not 0
    assert np.isnan(empty["0-5m"]["mAP"]) and empty["0-5m"]["objects"] == 0


def test_map_false_positive_with_higher_score_costs_precision():
    gts = [np.array([[0, 10.0, 0.0]])]
    preds = [np.array([[0, 40.0, 0.0, 0.9], [0, 10.0, 0.0, 0.5]])]  # PR points (0, 0) then (1, 0.5)
    # nuScenes interpolates precision linearly in recall: p(r) = r / 2; mean of max(0, r/2 - 0.1) over r = 0.11..1.00
    r = np.arange(11, 101) / 100
    expected = np.mean(np.clip(r / 2 - 0.1, 0, None)) / 0.9
    assert detection_map(preds, gts)["mAP"] == pytest.approx(expected) == pytest.approx(0.2)


def test_l2_at_uses_the_waypoint_at_that_time():
    fut = np.cumsum(np.ones((2, 6, 2)), axis=1)
    valid = np.ones((2, 6), bool)
    assert all(v == 0 for v in l2_at(fut, fut, valid).values())
    plan = fut.copy()
    plan[:, 1] += [3.0, 4.0]  # only the 1 s waypoint (index 1) is off by 5 m
    res = l2_at(plan, fut, valid)
    assert res == {"L2_1s": 5.0, "L2_2s": 0.0, "L2_3s": 0.0}
    valid[0, 5] = False
    plan[:, 5] += [0.0, 2.0]
    plan[0, 5] += [0.0, 100.0]  # invalid: ignored
    assert l2_at(plan, fut, valid)["L2_3s"] == pytest.approx(2.0)


def test_collision_rate_overlap_and_disjoint():
    plan = np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], 1)[None]  # straight ahead, 4 m/s
    obj = np.zeros((1, 2, 9), np.float32)
    obj[0, 0] = [0, 8.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]  # parked in the path
    assert collision_rate(plan, obj, np.array([1])) == 100.0
    obj[0, 0, 2] = 5.0  # one lane to the left
    assert collision_rate(plan, obj, np.array([1])) == 0.0
    obj[0, 0] = [0, 20.0, 5.0, 4.5, 1.9, 0.0, 0.0, -2.0, 1.5]  # cuts in: y = 5 - 2 t reaches 0 at 2.5 s, x ~ 10..11
    obj[0, 0, 1] = 11.4
    assert collision_rate(plan, obj, np.array([1])) == 100.0
    assert collision_rate(np.repeat(plan, 2, 0), np.repeat(obj, 2, 0), np.array([1, 0])) == 50.0


def test_collision_hits_name_the_frame_waypoint_and_object_and_the_benchmark_reads_the_cause():
    import importlib.util

    from perception.metrics import collision_hits

    plan = np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], 1)[None].repeat(3, 0)   # straight ahead, 4 m/s
    obj = np.zeros((3, 2, 9), np.float32)
    obj[:, 1] = [0, 8.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]     # object 1 parked in the path ...
    obj[1, 1, 2] = 5.0                                           # ... except in frame 1: one lane over
    obj[:, 0] = [0, 40.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]     # object 0 far ahead: never reached
    hits = collision_hits(plan, obj, np.array([2, 2, 2]))
    # the ego box (its front 3.75 m ahead of the waypoint) touches the box rear (5.75 m) at 0.5 s, overlaps at 1.0 s
    assert hits == [(0, 1, 1), (2, 1, 1)]
    assert collision_rate(plan, obj, np.array([2, 2, 2])) == pytest.approx(200.0 / 3)
    spec = importlib.util.spec_from_file_location(
        "open_loop_collisions", Path(__file__).resolve().parents[1] / "benchmarks" / "open_loop_collisions.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    expert = np.stack([np.arange(1, 7) * 0.5, np.zeros(6)], 1)
    assert mod.cause(plan[0], expert, 1, expert_hits=True) == "expert"
    assert mod.cause(plan[0], expert, 1, expert_hits=False) == "ahead"
    assert mod.cause(-plan[0], expert, 1, expert_hits=False) == "reverses"
    side = expert.copy()
    side[:, 1] = 1.0
    assert mod.cause(expert, side, 1, expert_hits=False) == "lateral"
    assert mod.cause(expert, expert, 1, expert_hits=False) == "other"


def test_collision_rate_uses_where_objects_really_went():
    plan = np.stack([np.arange(1, 7) * 2.0, np.zeros(6)], 1)[None]  # straight ahead, 4 m/s
    obj = np.zeros((1, 1, 9), np.float32)
    obj[0, 0] = [0, 8.0, 0.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5]  # in the path now (zero velocity)...
    fut = np.zeros((1, 1, 6, 3), np.float32)
    fut[0, 0, :, 0] = 8.0
    fut[0, 0, :, 1] = 6.0                                    # ...but it was one lane over at every waypoint time
    valid = np.ones((1, 1, 6), bool)
    assert collision_rate(plan, obj, np.array([1])) == 100.0
    assert collision_rate(plan, obj, np.array([1]), objects_future=fut, objects_future_valid=valid) == 0.0
    fut[0, 0, :, 1] = 0.0                                    # stays in the path: a hit
    assert collision_rate(plan, obj, np.array([1]), objects_future=fut, objects_future_valid=valid) == 100.0
    valid[:] = False                                         # gone from the world: nothing to hit
    assert collision_rate(plan, obj, np.array([1]), objects_future=fut, objects_future_valid=valid) == 0.0


def test_lane_iou_known_masks():
    gt = np.zeros((1, 2, 4, 4), np.uint8)
    pred = np.zeros_like(gt)
    gt[0, 0, :, 0] = 1
    pred[0, 0, :2, 0] = 1
    pred[0, 0, 0, 1] = 1  # inter 2, union 5
    gt[0, 1] = 1
    pred[0, 1] = 1
    np.testing.assert_allclose(lane_iou(pred, gt), [0.4, 1.0])


def test_motion_prior_cv_and_turn():
    t = torch.arange(1, 7) * 0.5
    ego = torch.tensor([[10.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.5, 0.0]])
    p = motion_prior(ego, t, "ctrv")
    np.testing.assert_allclose(p[0, :, 0], 10 * t, atol=1e-5)
    r = 10 / 0.5  # circle of radius v / w
    np.testing.assert_allclose(p[1, :, 0], r * np.sin(0.5 * t), atol=1e-3)
    np.testing.assert_allclose(p[1, :, 1], r * (1 - np.cos(0.5 * t)), atol=1e-3)


# ---------------------------------------------------------------------------------------------------- network
def test_forward_shapes_tiny():
    model, meta = tiny_model()
    imgs, ego, cmd = dummy_inputs(model.cfg, batch=3)
    out = model(imgs, ego, cmd)
    q, (hb, wb) = model.cfg.num_queries, model.cfg.seg_hw
    assert out.det_logits.shape == (3, q, 6) and out.det_boxes.shape == (3, q, 8)
    assert out.seg_logits.shape == (3, 2, hb, wb) == (3, 2, 30, 16)
    assert out.plan.shape == (3, 6, 2)
    assert torch.isfinite(torch.cat([o.flatten() for o in out])).all()
    assert count_flops(model) > 0


def test_keys_and_values_from_the_shared_samples_equal_projecting_then_sampling():
    """The BEV layers project keys/values from one shared sampling of the camera tokens (plus a ones channel);
    that must be exactly the sampling of the projected tokens, also where no camera sees a point (weights 0)."""
    model, _ = tiny_model()
    model.eval()
    torch.manual_seed(1)
    cross = model.bev_layers[0].cross
    torch.nn.init.normal_(cross.kv.bias)                       # a bias that matters (unseen points: 0, not b)
    tokens = torch.randn(2, model.cfg.num_cameras * model.feat_hw[0] * model.feat_hw[1], model.cfg.dim)
    want = model.sample(cross.kv(tokens))                                         # [B, Nq, S, 2d]
    samples = model.sample(torch.cat([tokens, torch.ones_like(tokens[..., :1])], dim=-1))
    w = torch.cat([cross.kv.weight, cross.kv.bias[:, None]], dim=1)
    got = torch.nn.functional.linear(samples, w)
    unseen = model.samp_w.reshape(*want.shape[1:3], 4).sum(-1) == 0
    assert unseen.any() and (~unseen).any()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert torch.all(got[:, unseen] == 0)
    # and the layer uses it: the cross-attention output follows the keys/values computed from the samples
    q = torch.randn(2, model.samp_mask.shape[0], model.cfg.dim)
    k_pos = (model.samp_slot[None] + model.samp_camera(model.samp_cam))[None]
    out = cross(q, samples, k_pos, model.samp_mask)
    with torch.no_grad():
        cross.kv.bias.add_(1.0)
    assert not torch.allclose(cross(q, samples, k_pos, model.samp_mask), out)


def test_bev_sampling_table_looks_through_the_right_camera():
    from perception.data.generate import _meta  # noqa: F401  (the generator's rig is the simulator's)
    from perception.model.network import bev_sampling_table, bev_cell_centres
    from vehicle_sim.camera import camera_info, default_rig

    rig = []
    for spec in default_rig(256, 128)[:3]:
        info = camera_info(spec)
        rig.append({"name": spec.name, "width": 256, "height": 128, "K": info.K.tolist(),
                    "T_cam_to_ego": info.T_cam_to_ego.tolist()})
    assert [c["name"] for c in rig] == ["front", "front_left", "front_right"]
    bev_range, bev_hw = (-10.0, 50.0, -16.0, 16.0), (30, 16)
    idx, w, cam, mask, depth = bev_sampling_table(rig, (128, 256), (16, 32), bev_range, bev_hw, [0.5, 1.5], 2)
    cells = bev_cell_centres(bev_range, bev_hw)
    assert idx.shape == (480, 8, 4) and w.shape == (480, 8, 4) and cam.shape == mask.shape == (480, 8)
    ahead = int(np.argmin(np.hypot(cells[:, 0] - 21, cells[:, 1] - 1)))
    assert np.all(mask[ahead] == 0) and np.all(cam[ahead] == 0)          # straight ahead: front camera
    np.testing.assert_allclose(w[ahead].sum(-1), 1.0, atol=1e-6)         # bilinear weights
    cols = idx[ahead] % 32
    assert np.all(np.abs(cols - 15.5) <= 3)                              # near the image centre column
    behind = int(np.argmin(np.hypot(cells[:, 0] + 7, cells[:, 1])))
    assert np.all(mask[behind] < -1e3) and np.all(w[behind] == 0)        # no rear camera: masked
    left = int(np.argmin(np.hypot(cells[:, 0] - 5, cells[:, 1] - 9)))
    assert np.all(cam[left][mask[left] == 0] == 1) and np.any(mask[left] == 0)   # front_left
    cam_x = rig[0]["T_cam_to_ego"][0][3]
    assert np.all(np.abs(depth[ahead] - (cells[ahead, 0] - cam_x)) < 1.0)  # optical depth of the sample points
    assert np.all(depth[behind] == 0)


def test_dense_targets_put_the_peak_on_the_object_cell():
    from perception.model.losses import dense_targets

    model, meta = tiny_model()
    m = model.cfg
    objects = torch.zeros(1, 6, 9)
    objects[0, 0] = torch.tensor([2, 21.0, -3.0, 0.6, 0.6, 0.0, 1.0, 0.0, 1.7])   # pedestrian
    objects[0, 1] = torch.tensor([0, 31.0, 5.0, 4.5, 1.9, 0.0, 0.0, 0.0, 1.5])    # car, not visible
    batch = {"objects": objects, "num_objects": torch.tensor([2]), "visibility": torch.tensor([[1.0, 0, 0, 0, 0, 0]])}
    heat, box_t, pos = dense_targets(batch, m)
    hq, wq = m.bev_hw
    x0, x1, y0, y1 = m.bev_range
    row, col = int((x1 - 21.0) // ((x1 - x0) / hq)), int((y1 + 3.0) // ((y1 - y0) / wq))
    assert heat[0, 2, row, col] == 1.0 and heat[0, 2].max() == 1.0
    assert heat[0, 0].max() == 0.0                                       # the invisible car leaves no target
    assert int(pos.sum()) == 1 and bool(pos[0, row * wq + col])
    from perception.model import encode_boxes
    torch.testing.assert_close(box_t[0, row * wq + col], encode_boxes(objects[0, 0], m))


def test_few_steps_lower_the_loss():
    model, meta = tiny_model()
    arrays = make_arrays(8, meta, seed=3)
    batch = to_batch(arrays, np.arange(8))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses, depth_losses = [], []
    for _ in range(25):
        out, aux = model.forward_with_aux(batch["images"], batch["ego"], batch["command"])
        loss, parts = total_loss(out, batch, model.cfg, load_config(TINY).loss, aux)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        depth_losses.append(parts["depth"])                              # the tiny config has a depth head
    assert losses[-1] < 0.7 * losses[0]
    assert depth_losses[-1] < depth_losses[0]


def test_onnx_export_matches_torch(tmp_path):
    import onnx
    import onnxruntime as ort

    model, _ = tiny_model()
    model.eval()
    path = export_onnx(model, str(tmp_path / "tiny.onnx"))
    onnx.checker.check_model(onnx.load(path))
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert all(o[0].isupper() for o in ops)  # standard ai.onnx ops only
    imgs, ego, cmd = dummy_inputs(model.cfg, batch=2, seed=5)
    with torch.no_grad():
        ref = model(imgs, ego, cmd)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": imgs.numpy(), "ego": ego.numpy(), "command": cmd.numpy()})
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        assert np.max(np.abs(r.numpy() - g)) < 1e-3


# ------------------------------------------------------------------------------------------------- train loop
def test_train_time_budget_then_resume(tmp_path):
    data = write_dataset(tmp_path / "data", {"train": 16, "val": 4, "test": 4})
    out = tmp_path / "run"
    res = train(TINY, data, out, max_minutes=1e-6, progress=False)
    assert res["stopped_early"] and res["epoch"] == 0
    ckpt = torch.load(out / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 0 and ckpt["step"] >= 1 and ckpt["wall_time_s"] > 0
    assert {"cfg", "rig", "model", "optimizer", "metrics"} <= set(ckpt)
    res2 = train(TINY, data, out, resume=True, progress=False)
    assert not res2["stopped_early"] and res2["epoch"] == 2 and res2["step"] > ckpt["step"]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [e.get("resumed_from_epoch") for e in log if e.get("event") == "start"] == [None, 0]
    assert [e["epoch"] for e in log if "val_loss" in e] == [1, 2]
    assert (out / "best.pt").exists()
    res3 = train(TINY, data, out, resume=True, progress=False, epochs=3)      # extend the finished run by one
    assert res3["epoch"] == 3 and res3["step"] == res2["step"] * 3 // 2
    assert torch.load(out / "last.pt", weights_only=False)["cfg"]["train"]["epochs"] == 3
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train(TINY, data, out, resume=True, progress=False, epochs=0)
    model = load_model(out / "last.pt")
    arrays = load_split(data, "test")
    from perception.metrics import evaluate
    m = evaluate(model, arrays)
    assert {"mAP", "L2_1s", "L2_2s", "L2_3s", "collision_rate", "lane_iou"} <= set(m)


def test_eval_cli_prints_json_last(tmp_path, capsys):
    import argparse

    from perception.cli import add_model_parsers

    data = write_dataset(tmp_path / "data", {"train": 8, "val": 4, "test": 4})
    train(TINY, data, tmp_path / "run", max_minutes=1e-6, progress=False)
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["eval", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(data), "--json"])
    assert args.func(args) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"mAP", "L2_1s", "L2_2s", "L2_3s", "collision_rate", "lane_iou", "baseline_L2_3s",
            "baseline_collision_rate"} <= set(last) and "baseline_skipped" not in last
    # a test-only dataset (no train split to fit the baseline on) says so in the table and the JSON
    import shutil
    shutil.rmtree(data / "train")
    args = parser.parse_args(["eval", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--data", str(data), "--json"])
    assert args.func(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    last = json.loads(out[-1])
    assert "baseline_L2_3s" not in last and "has no train split" in last["baseline_skipped"]
    assert any(line.startswith("(baseline not run:") for line in out[:-1])


# ---------------------------------------------------------------------------------------------------- pruning
def test_prune_keeps_the_strongest_channels_and_fine_tunes(tmp_path):
    from perception.model import load_checkpoint
    from perception.prune import prune_backbone

    data = write_dataset(tmp_path / "data", {"train": 16, "val": 4, "test": 4})
    train(TINY, data, tmp_path / "run", progress=False)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    bn0 = ckpt["model"]["backbone.body.0.1.weight"]
    pruned, report = prune_backbone(ckpt, 0.5)
    spec = ckpt["cfg"]["model"]["backbone"]
    assert [s[0] for s in report["backbone"]["after"]] == [max(8, round(c * 0.5)) for c, _, _ in spec]
    assert report["backbone_parameters"]["after"] < report["backbone_parameters"]["before"]
    full = load_model(ckpt)
    assert report["backbone_parameters"]["before"] == sum(p.numel() for p in full.backbone.parameters())
    # the kept stem channels are those with the largest |gamma|, in their original order
    k = report["backbone"]["after"][0][0]
    want = torch.sort(torch.topk(bn0.abs(), k).indices).values
    assert torch.equal(pruned["model"]["backbone.body.0.1.weight"], bn0[want])
    model = load_model(pruned)                                    # an ordinary, smaller model
    imgs, ego, cmd = dummy_inputs(model.cfg, batch=1)
    with torch.no_grad():
        out = model(imgs, ego, cmd)
    assert all(torch.isfinite(t).all() for t in out)
    res = train(TINY, data, tmp_path / "ft", progress=False, init=pruned, epochs=1)
    assert res["epoch"] == 1
    tuned = load_checkpoint(tmp_path / "ft" / "last.pt")
    assert tuned["cfg"]["model"]["backbone"] == report["backbone"]["after"]
    with pytest.raises(ValueError, match="keep must be in"):
        prune_backbone(ckpt, 0.0)


def test_depth_weighted_lift_reads_the_depth_bin_of_each_sample_point():
    model, _ = tiny_model()
    m = model.cfg
    assert m.depth_bins > 0
    nq, s = model.samp_mask.shape[0], model.n_samples
    # one-hot depth distributions: every token "sees" exactly bin k -> a sample point gets probability only
    # where its own depth falls in bin k
    ntok = model.cam_coords.shape[0]
    d0, d1 = m.depth_range
    step = (d1 - d0) / m.depth_bins
    idx, w, _, _, depth = bev_sampling_table(model.rig, m.image_hw, model.feat_hw, m.bev_range, m.bev_hw,
                                             list(m.sample_heights), m.sample_xy)
    seen = w.sum(-1) > 0
    bin_of = np.clip(np.rint((depth - d0) / step - 0.5), 0, m.depth_bins - 1)
    for k in range(m.depth_bins):
        logits = torch.full((1, ntok, m.depth_bins), -50.0)
        logits[..., k] = 50.0
        p = model.sample_depth(logits)[0].numpy()
        assert p.shape == (nq, s)
        np.testing.assert_allclose(p[seen & (bin_of == k)], 1.0, atol=1e-5)
        np.testing.assert_allclose(p[~seen | (bin_of != k)], 0.0, atol=1e-5)


# ---------------------------------------------------------------------------------------------------- devices
def test_train_init_fine_tunes_from_a_checkpoint_on_the_same_cameras_only(tmp_path):
    """`perception train --init CKPT`: a new run starts from the checkpoint's weights (not from scratch), and a
    dataset with other cameras is refused by name (the model's geometry comes from its rig)."""
    import argparse

    from perception.cli import add_model_parsers
    from perception.model import load_checkpoint

    data = write_dataset(tmp_path / "data", {"train": 16, "val": 4})
    train(TINY, data, tmp_path / "run", progress=False)
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))
    base = ["train", "--config", str(TINY), "--epochs", "1"]
    args = parser.parse_args(base + ["--data", str(data), "--out", str(tmp_path / "ft"),
                                     "--init", str(tmp_path / "run" / "last.pt")])
    assert args.func(args) == 0
    run = load_checkpoint(tmp_path / "run" / "last.pt")
    start, tuned = run["model"], load_checkpoint(tmp_path / "ft" / "last.pt")["model"]
    # one epoch moves the weights from the start, far less than a fresh initialisation lies from it
    fresh = E2EDrivingModel(config_from_dict(run["cfg"]), run["rig"]).state_dict()
    name = "backbone.body.0.0.weight"
    moved = (tuned[name] - start[name]).norm()
    assert 0 < moved < 0.5 * (fresh[name] - start[name]).norm()
    other = write_dataset(tmp_path / "other", {"train": 16, "val": 4}, width=48)
    args = parser.parse_args(base + ["--data", str(other), "--out", str(tmp_path / "ft2"),
                                     "--init", str(tmp_path / "run" / "last.pt")])
    with pytest.raises(ValueError, match=r"cameras .*front.*32, 16.*front.*48, 16"):
        args.func(args)
    args = parser.parse_args(base + ["--data", str(data), "--out", str(tmp_path / "ft3"), "--init",
                                     str(tmp_path / "missing.pt")])
    with pytest.raises(SystemExit, match="missing.pt: no such checkpoint file"):
        args.func(args)


def test_train_on_several_datasets_appends_their_splits_and_refuses_other_label_formats(tmp_path):
    """`perception train --data A --data B`: both train splits train (the start line of train_log.jsonl counts
    them), both val splits validate (max_val_frames shared between them); a dataset with other classes, or a
    path without meta.json, is refused by name."""
    import argparse
    import json

    from perception.cli import add_model_parsers

    a = write_dataset(tmp_path / "a", {"train": 12, "val": 8}, seed=0)
    b = write_dataset(tmp_path / "b", {"train": 8, "val": 8}, seed=5)
    parser = argparse.ArgumentParser()
    add_model_parsers(parser.add_subparsers(dest="cmd"))
    base = ["train", "--config", str(TINY), "--epochs", "1"]
    args = parser.parse_args(base + ["--data", str(a), "--data", str(b), "--out", str(tmp_path / "ab")])
    assert args.func(args) == 0
    start = json.loads((tmp_path / "ab" / "train_log.jsonl").read_text().splitlines()[0])
    assert start["train_frames"] == 20 and start["val_frames"] == 8     # tiny.yaml: max_val_frames 8, 4 each
    assert start["data"] == [str(a), str(b)]
    one = train(TINY, a, tmp_path / "a_only", progress=False, epochs=1)
    both = train(TINY, [a, b], tmp_path / "ab2", progress=False, epochs=1)
    assert one["step"] == 3 and both["step"] == 5                   # batch 4: 12 // 4 against 20 // 4 steps
    other = write_dataset(tmp_path / "c", {"train": 8, "val": 4})
    meta = json.loads((other / "meta.json").read_text())
    meta["classes"] = meta["classes"][::-1]
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"dataset {other}: meta.json 'classes' is .* dataset {a} has"):
        train(TINY, [a, other], tmp_path / "ac", progress=False, epochs=1)
    args = parser.parse_args(base + ["--data", str(a), "--data", str(tmp_path / "nope"), "--out",
                                     str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="--data .*nope: not a dataset"):
        args.func(args)


def test_train_device_names_are_checked():
    from perception.runtime import resolve_device

    assert resolve_device("cpu").type == "cpu" and resolve_device(" CPU ").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="train.device 'gpu': expected cpu, cuda, cuda:N or auto"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="train.device 'cuda': no CUDA GPU is visible"):
            resolve_device("cuda")


def test_losses_accept_labels_on_the_cpu_with_outputs_elsewhere():
    """total_loss builds targets from a CPU batch and moves them to the outputs' device (here the same device, on a
    GPU machine the model's): the loss is the same as with every tensor on the outputs' device."""
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model, meta = tiny_model()
    model.to(dev).eval()
    batch = to_batch(make_arrays(4, meta, seed=5), np.arange(4))
    with torch.no_grad():
        out, aux = model.forward_with_aux(batch["images"].to(dev), batch["ego"].to(dev), batch["command"].to(dev))
        loss, parts = total_loss(out, batch, model.cfg, load_config(TINY).loss, aux)
    assert loss.device.type == dev and np.isfinite(parts["total"])
    assert {"cls", "box", "seg_bce", "plan", "heat", "dense_box", "depth", "collision"} <= set(parts)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on the device machine)")
def test_cuda_training_saves_cpu_checkpoints_that_match_on_the_cpu(tmp_path):
    data = write_dataset(tmp_path / "data", {"train": 16, "val": 4, "test": 4})
    res = train(TINY, data, tmp_path / "run", progress=False, epochs=1, device="cuda")
    assert res["epoch"] == 1 and np.isfinite(res["best_val_loss"])
    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert all(v.device.type == "cpu" for v in ckpt["model"].values())
    assert ckpt["cfg"]["train"]["device"] == "cuda"
    cpu_model = load_model(ckpt)
    gpu_model = load_model(ckpt).to("cuda")
    arrays = load_split(data, "test")
    x = [torch.from_numpy(arrays[k]) for k in ("images", "ego", "command")]
    with torch.no_grad():
        a = cpu_model(*x)
        b = gpu_model(*(t.cuda() for t in x))
    for u, v in zip(a, b):
        np.testing.assert_allclose(u.numpy(), v.cpu().numpy(), atol=2e-3, rtol=1e-3)


def test_config_extends_another_file_key_by_key(tmp_path):
    gpu = load_config(Path(TINY).parent / "gpu.yaml")
    default = load_config(Path(TINY).parent / "default.yaml")
    assert gpu.model == default.model and gpu.loss == default.loss
    assert (gpu.train.batch_size, gpu.train.lr, gpu.train.epochs, gpu.train.device) == (64, 0.004, 42, "auto")
    assert gpu.train.weight_decay == default.train.weight_decay          # not set in gpu.yaml: inherited
    (tmp_path / "a.yaml").write_text("extends: b.yaml\ntrain: {epochs: 3}\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ValueError, match="loops back to itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: missing.yaml\n")
    with pytest.raises(FileNotFoundError, match="extends 'missing.yaml'"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("extends: default.yaml\ntrain: {epoch: 3}\n")
    (tmp_path / "default.yaml").write_text((Path(TINY).parent / "default.yaml").read_text())
    with pytest.raises(ValueError, match=r"train: unknown keys \['epoch'\]"):
        load_config(tmp_path / "d.yaml")
