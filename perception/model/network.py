"""End-to-end driving network: multi-camera images + ego status + route command -> objects, BEV masks, waypoints.

Why this shape (see perception/MODEL.md): a shared strided CNN per camera gives camera tokens; a PETR-style
positional encoding built from the fixed rig (frustum points in the ego frame) makes them 3D-aware; a small grid of
learned BEV queries cross-attends to them (BEVFormer idea, but with plain matmul attention plus a fixed projection
sampling points so it converges in CPU-hours, no deformable/custom ops); dense CenterPoint-style heads propose
objects whose top-K become DETR queries (two-stage query selection) refined by a decoder; a BEV segmentation decoder
and a UniAD/VAD-like ego query read the BEV tokens. Everything is static-shape with no
data-dependent control flow, so one standard ONNX graph (opset 17) is exported that takes raw uint8 images.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.depth import depth_bin_of
from ..features import EGO_DIM, EGO_FIELDS, LEAD_DIM, LEAD_SCALE, no_lead
from .config import Config, ModelConfig

INPUT_NAMES = ("images", "ego", "command")
OUTPUT_NAMES = ("det_logits", "det_boxes", "seg_logits", "plan")
IMAGE_MEAN = 0.45
IMAGE_STD = 0.25
BIAS_CAP = 20.0  # attention logits prior floor (-geo_bias * BIAS_CAP): far tokens are unlikely, never impossible


class DrivingOutputs(NamedTuple):
    """A tuple (so ONNX export sees plain outputs) with names (so training code stays readable)."""

    det_logits: torch.Tensor  # [B, Q, num_classes + 1] (last = no object)
    det_boxes: torch.Tensor   # [B, Q, 8]: u, v (centre in [0, 1] over the BEV range), log l, log w, sin, cos, vx/vs, vy/vs
    seg_logits: torch.Tensor  # [B, 2, Hb, Wb]: lane lines, drivable area
    plan: torch.Tensor        # [B, T, 2]: ego waypoints (x, y) in metres


# ----------------------------------------------------------------------------------------------- pure geometry
def default_rig(mcfg: ModelConfig) -> list[dict[str, Any]]:
    """The simulator's default rig at the configured image size (used when no dataset meta is given)."""
    from vehicle_sim.camera import camera_info, default_rig as sim_rig

    h, w = mcfg.image_hw
    specs = sim_rig(w, h)
    specs = (specs * (mcfg.num_cameras // len(specs) + 1))[: mcfg.num_cameras]
    out = []
    for s in specs:
        info = camera_info(s)
        out.append({"name": s.name, "width": w, "height": h, "K": info.K.tolist(), "T_cam_to_ego": info.T_cam_to_ego.tolist()})
    return out


def token_pixels(image_hw: tuple[int, int], feat_hw: tuple[int, int]) -> np.ndarray:
    """Source-image pixel centres (u, v) of every feature cell, [Hf * Wf, 2], row-major."""
    h, w = image_hw
    hf, wf = feat_hw
    u = (np.arange(wf) + 0.5) * (w / wf) - 0.5
    v = (np.arange(hf) + 0.5) * (h / hf) - 0.5
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu.ravel(), vv.ravel()], axis=1)


def token_rays(rig: list[dict[str, Any]], image_hw: tuple[int, int], feat_hw: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Ego-frame origins and directions [Ncam * Hf * Wf, 3] of the rays through every token's pixel centre, in
    token order (camera, row, column); directions are scaled so the ray parameter is the optical depth."""
    pix = token_pixels(image_hw, feat_hw)
    origins, dirs = [], []
    for cam in rig:
        k = np.asarray(cam["K"], dtype=np.float64).copy()
        k[0] *= image_hw[1] / cam["width"]   # rig may be given at another resolution
        k[1] *= image_hw[0] / cam["height"]
        t = np.asarray(cam["T_cam_to_ego"], dtype=np.float64)
        rays = np.linalg.solve(k, np.vstack([pix.T, np.ones(len(pix))])).T  # optical-frame rays with z = 1
        dirs.append(rays @ t[:3, :3].T)
        origins.append(np.broadcast_to(t[:3, 3], rays.shape))
    return np.concatenate(origins), np.concatenate(dirs)


def frustum_points(rig: list[dict[str, Any]], image_hw: tuple[int, int], feat_hw: tuple[int, int],
                   depths: list[float]) -> np.ndarray:
    """Ego-frame points at optical depths `depths` along every token's ray, [Ncam * Hf * Wf, D, 3] (PETR frustum)."""
    origins, dirs = token_rays(rig, image_hw, feat_hw)
    return origins[:, None, :] + dirs[:, None, :] * np.asarray(depths, dtype=np.float64)[None, :, None]


def normalize_xyz(pts: np.ndarray, bev_range: tuple[float, float, float, float], z_range=(-2.0, 4.0)) -> np.ndarray:
    """Points to roughly [0, 1] over the BEV range (values outside are kept: far frustum points still carry direction)."""
    x0, x1, y0, y1 = bev_range
    lo = np.array([x0, y0, z_range[0]])
    hi = np.array([x1, y1, z_range[1]])
    return (pts - lo) / (hi - lo)


def bev_cell_centres(bev_range: tuple[float, float, float, float], bev_hw: tuple[int, int]) -> np.ndarray:
    """Ego (x, y) of the BEV query cells, [Hq * Wq, 2], row-major with the mask convention (row 0 = farthest ahead,
    column 0 = leftmost), so reshaping the tokens to [Hq, Wq] gives an image aligned with `bev_masks`."""
    x0, x1, y0, y1 = bev_range
    hq, wq = bev_hw
    xs = x1 - (np.arange(hq) + 0.5) * (x1 - x0) / hq
    ys = y1 - (np.arange(wq) + 0.5) * (y1 - y0) / wq
    xx, yy = np.meshgrid(xs, ys, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def bev_sampling_table(rig: list[dict[str, Any]], image_hw: tuple[int, int], feat_hw: tuple[int, int],
                       bev_range: tuple[float, float, float, float], bev_hw: tuple[int, int],
                       heights: list[float], n_xy: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where every BEV cell looks in the cameras (BEVFormer's spatial cross-attention with fixed sampling points).

    Each cell gets S = n_xy^2 * len(heights) pillar points (ego frame, heights above the ground); each point is
    projected into the camera that sees it nearest to its image centre and bilinearly sampled from the feature map.
    Returns idx int64 [Nq, S, 4] (flat camera-token indices of the 4 bilinear neighbours), w float32 [Nq, S, 4]
    (bilinear weights, 0 when no camera sees the point), cam int64 [Nq, S] (camera of the point, 0 when unseen)
    bias float32 [Nq, S] (0 seen, -1e4 unseen: an attention-logit mask) and depth float32 [Nq, S] (the point's optical
    depth in its camera, 0 when unseen: where the depth head's distribution is read).

    Why fixed points instead of learned offsets (deformable attention): the rig is fixed, so the geometry is known
    exactly; gathers with constant indices are plain ONNX Gather ops that ONNX Runtime and TensorRT run as is.
    """
    x0, x1, y0, y1 = bev_range
    hq, wq = bev_hw
    cells = bev_cell_centres(bev_range, bev_hw)
    dx, dy = (x1 - x0) / hq, (y1 - y0) / wq
    off = (np.arange(n_xy) + 0.5) / n_xy - 0.5
    ox, oy, oz = np.meshgrid(off * dx, off * dy, np.asarray(heights, dtype=np.float64), indexing="ij")
    s = ox.size
    pts = np.concatenate([cells[:, None, :] + np.stack([ox.ravel(), oy.ravel()], 1)[None],
                          np.broadcast_to(oz.ravel()[None, :, None], (len(cells), s, 1))], axis=2)  # [Nq, S, 3]
    hf, wf = feat_hw
    stride_u, stride_v = image_hw[1] / wf, image_hw[0] / hf
    best = np.full(pts.shape[:2], np.inf)
    idx = np.zeros(pts.shape[:2] + (4,), np.int64)
    w = np.zeros(pts.shape[:2] + (4,), np.float32)
    cam_of = np.zeros(pts.shape[:2], np.int64)
    depth = np.zeros(pts.shape[:2], np.float32)
    for ci, cam in enumerate(rig):
        k = np.asarray(cam["K"], dtype=np.float64).copy()
        k[0] *= image_hw[1] / cam["width"]
        k[1] *= image_hw[0] / cam["height"]
        t = np.asarray(cam["T_cam_to_ego"], dtype=np.float64)
        pc = (pts - t[:3, 3]) @ t[:3, :3]                           # ego -> optical: R^T (p - t)
        z = pc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = k[0, 0] * pc[..., 0] / z + k[0, 2]
            v = k[1, 1] * pc[..., 1] / z + k[1, 2]
        ok = (z > 0.3) & (u >= 0) & (u <= image_hw[1] - 1) & (v >= 0) & (v <= image_hw[0] - 1)
        centrality = np.abs(u / image_hw[1] - 0.5)
        take = ok & (centrality < best)
        fu = np.clip((u + 0.5) / stride_u - 0.5, 0, wf - 1)
        fv = np.clip((v + 0.5) / stride_v - 0.5, 0, hf - 1)
        fu, fv = np.where(take, fu, 0), np.where(take, fv, 0)
        c0, r0 = np.floor(fu).astype(np.int64), np.floor(fv).astype(np.int64)
        c1, r1 = np.minimum(c0 + 1, wf - 1), np.minimum(r0 + 1, hf - 1)
        au, av = fu - c0, fv - r0
        base = ci * hf * wf
        cand_idx = np.stack([base + r0 * wf + c0, base + r0 * wf + c1, base + r1 * wf + c0, base + r1 * wf + c1], -1)
        cand_w = np.stack([(1 - au) * (1 - av), au * (1 - av), (1 - au) * av, au * av], -1)
        idx = np.where(take[..., None], cand_idx, idx)
        w = np.where(take[..., None], cand_w, w).astype(np.float32)
        cam_of = np.where(take, ci, cam_of)
        depth = np.where(take, z, depth).astype(np.float32)
        best = np.where(take, centrality, best)
    bias = np.where(np.isfinite(best), 0.0, -1e4).astype(np.float32)
    return idx, w, cam_of, bias, depth


def fourier(x: torch.Tensor, n_freq: int = 6) -> torch.Tensor:
    """[..., k] in ~[0, 1] -> [..., k * 2 * n_freq] sin/cos features (why: MLPs on raw coordinates are too smooth)."""
    freqs = (2.0 ** torch.arange(n_freq, dtype=x.dtype, device=x.device)) * math.pi
    a = x[..., None] * freqs
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1).flatten(-2)


def motion_prior(ego: torch.Tensor, times: torch.Tensor, kind: str) -> torch.Tensor:
    """Waypoints [B, T, 2] of a constant-velocity ("cv") or constant-turn-rate ("ctrv") ego; zeros for "none".

    Series expansions of sin(th)/th and (1 - cos(th))/th keep the graph division-free (no th = 0 special case).
    """
    v = ego[:, 0:1]
    s = v * times[None, :]
    if kind == "none":
        return torch.zeros(ego.shape[0], times.shape[0], 2, dtype=ego.dtype, device=ego.device)
    if kind == "cv":
        return torch.stack([s, torch.zeros_like(s)], dim=-1)
    th = torch.clamp(ego[:, 2:3] * times[None, :], -2.0, 2.0)
    t2 = th * th
    sinc = 1 - t2 / 6 + t2 * t2 / 120 - t2 ** 3 / 5040 + t2 ** 4 / 362880
    cosc = th * (0.5 - t2 / 24 + t2 * t2 / 720 - t2 ** 3 / 40320 + t2 ** 4 / 3628800)
    return torch.stack([s * sinc, s * cosc], dim=-1)


def decode_boxes(boxes: np.ndarray, mcfg: ModelConfig) -> np.ndarray:
    """Network box parameters [..., 8] -> metric boxes [..., 7]: x, y, length, width, yaw, vx, vy (ego frame).
    (The torch-free implementation in perception.driving is the one the car runs.)"""
    from perception.driving import decode_boxes as decode

    return decode(boxes, mcfg.bev_range, mcfg.vel_scale)


def encode_boxes(objects: torch.Tensor, mcfg: ModelConfig) -> torch.Tensor:
    """Dataset objects [..., 9] (class, x, y, l, w, yaw, vx, vy, z) -> regression targets [..., 8] (see DrivingOutputs)."""
    x0, x1, y0, y1 = mcfg.bev_range
    return torch.stack([
        (objects[..., 1] - x0) / (x1 - x0), (objects[..., 2] - y0) / (y1 - y0),
        torch.log(objects[..., 3].clamp(min=0.05)), torch.log(objects[..., 4].clamp(min=0.05)),
        torch.sin(objects[..., 5]), torch.cos(objects[..., 5]),
        objects[..., 6] / mcfg.vel_scale, objects[..., 7] / mcfg.vel_scale], dim=-1)


# ------------------------------------------------------------------------------------------------------ modules
def conv_bn_relu(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Backbone(nn.Module):
    """Plain strided conv-BN-ReLU stages, spec [[channels, stride, convs], ...] (fast on CPU, fuses in ONNX Runtime)."""

    def __init__(self, spec: list[list[int]]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for ch, stride, n in spec:
            for i in range(n):
                layers.append(conv_bn_relu(cin, ch, stride if i == 0 else 1))
                cin = ch
        self.body = nn.Sequential(*layers)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Attention(nn.Module):
    """Multi-head attention from plain matmuls (predictable ONNX: MatMul/Softmax only) with an optional additive
    logit bias [Nq, Nk] scaled per head by a learned factor."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.bias_scale = nn.Parameter(torch.ones(heads, 1, 1))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, nq, d = q.shape
        q = self.q(q).reshape(b, nq, self.heads, self.hd).transpose(1, 2)
        k = self.k(k).reshape(b, -1, self.heads, self.hd).transpose(1, 2)
        v = self.v(v).reshape(b, -1, self.heads, self.hd).transpose(1, 2)
        logits = torch.matmul(q, k.transpose(-1, -2)) * (self.hd ** -0.5)
        if bias is not None:
            logits = logits + self.bias_scale * bias
        out = torch.matmul(logits.softmax(dim=-1), v)
        return self.o(out.transpose(1, 2).reshape(b, nq, d))


class DecoderLayer(nn.Module):
    """Pre-norm transformer decoder layer: (self-attention) + cross-attention + FFN."""

    def __init__(self, dim: int, heads: int, ffn_mult: int, self_attn: bool = True) -> None:
        super().__init__()
        self.self_attn = Attention(dim, heads) if self_attn else None
        self.cross = Attention(dim, heads)
        self.n1, self.n2, self.n3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim * ffn_mult), nn.GELU(), nn.Linear(dim * ffn_mult, dim))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, mem: torch.Tensor, mem_pos: torch.Tensor,
                self_bias: torch.Tensor | None = None, cross_bias: torch.Tensor | None = None) -> torch.Tensor:
        if self.self_attn is not None:
            h = self.n1(x)
            x = x + self.self_attn(h + pos, h + pos, h, self_bias)
        h = self.n2(x)
        x = x + self.cross(h + pos, mem + mem_pos, mem, cross_bias)
        return x + self.ffn(self.n3(x))


def mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, cout))


class EgoStatusMLP(nn.Module):
    """Two hidden ReLU layers over (scaled ego status, route command); the command enters as an embedding added to
    the first layer, which equals a one-hot input column block without a OneHot op in the ONNX graph."""

    def __init__(self, ego_dim: int, num_commands: int, hidden: int, out: int) -> None:
        super().__init__()
        self.inp = nn.Linear(ego_dim, hidden)
        self.cmd = nn.Embedding(num_commands, hidden)
        nn.init.zeros_(self.cmd.weight)
        self.net = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, ego_scaled: torch.Tensor, command: torch.Tensor) -> torch.Tensor:
        return self.net(self.inp(ego_scaled) + self.cmd(command))

    @torch.no_grad()
    def load_from_sequential(self, seq: nn.Sequential) -> None:
        """Copy perception.baseline.EgoMLP.net (Linear(ego + one-hot command) -> ReLU -> Linear -> ReLU -> Linear)."""
        w0, d = seq[0].weight, self.inp.in_features
        if w0.shape != (self.inp.out_features, d + self.cmd.num_embeddings):
            raise ValueError(f"ego MLP first layer {tuple(w0.shape)} does not fit hidden={self.inp.out_features}, "
                             f"ego_dim={d}, commands={self.cmd.num_embeddings}")
        self.inp.weight.copy_(w0[:, :d])
        self.inp.bias.copy_(seq[0].bias)
        self.cmd.weight.copy_(w0[:, d:].T)
        self.net[1].load_state_dict(seq[2].state_dict())
        self.net[3].load_state_dict(seq[4].state_dict())


class SampledCrossAttention(nn.Module):
    """Each BEV query attends over its own S sampled camera features (BEVFormer spatial cross-attention with
    fixed points). It takes the samples of the camera tokens with a ones channel appended (`samples` [B, Nq, S,
    d+1]: sum w*token and sum w, the bilinear weights, 0 where no camera sees the point) and projects keys and values
    from them: W(sum w*token) + b*(sum w) is exactly sum w*(W token + b), the projection of the samples. So the
    model samples once for all layers, on d+1 channels, instead of once per layer on the 2d projected channels:
    the Gather/Mul/Add of sampling were half of ONNX Runtime's time, and the projections become MatMuls that
    INT8 quantizes. Plain MatMul/Gather/Softmax in ONNX."""

    def __init__(self, dim: int, heads: int, depth: bool = False) -> None:
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.q, self.o = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.k_pos = nn.Linear(dim, dim, bias=False)
        if depth:
            # depth weighting (LSS/BEVDepth lift): value * (base + gain * p(depth of the sample point)), per channel;
            # starts as the plain attention (base 1, gain 0) and learns how much to trust the depth head
            self.v_base = nn.Parameter(torch.ones(dim))
            self.v_depth = nn.Parameter(torch.zeros(dim))
            self.logit_depth = nn.Parameter(torch.zeros(heads))

    def forward(self, q: torch.Tensor, samples: torch.Tensor, k_pos: torch.Tensor, mask: torch.Tensor,
                depth_p: torch.Tensor | None = None) -> torch.Tensor:
        """samples [B, Nq, S, d+1] (see the class); depth_p [B, Nq, S]: probability the camera sees something at
        each sample point's depth (or None)."""
        b, nq, d = q.shape
        s = samples.shape[2]
        w = torch.cat([self.kv.weight, self.kv.bias[:, None]], dim=1)                          # [2d, d+1]
        dim = self.kv.in_features      # (a Python int, not q's shape: the ONNX export folds w's slices to constants)
        k = (F.linear(samples, w[:dim]) + self.k_pos(k_pos)).reshape(b, nq, s, self.heads, self.hd)
        v = F.linear(samples, w[dim:])                                                         # [B, Nq, S, d]
        if depth_p is not None:
            v = v * (self.v_base + self.v_depth * depth_p[..., None])
        v = v.reshape(b, nq, s, self.heads, self.hd)
        qh = self.q(q).reshape(b, nq, 1, self.heads, self.hd)
        # S is small (8): elementwise products beat thousands of tiny batched matmuls on a CPU
        logits = (qh * k).sum(-1) * (self.hd ** -0.5) + mask[:, :, None]                        # [B, Nq, S, h]
        if depth_p is not None:
            logits = logits + self.logit_depth * torch.log(depth_p + 1e-3)[..., None]
        attn = logits.softmax(dim=2)
        out = (attn[..., None] * v).sum(2)                                                     # [B, Nq, h, hd]
        return self.o(out.reshape(b, nq, d))


class BevLayer(nn.Module):
    """Sampled cross-attention to the cameras, a 3x3 conv block over the BEV grid (local context, cheaper than
    BEV self-attention), FFN; pre-norm residuals."""

    def __init__(self, dim: int, heads: int, ffn_mult: int, bev_hw: tuple[int, int], depth: bool = False) -> None:
        super().__init__()
        self.bev_hw = tuple(bev_hw)
        self.cross = SampledCrossAttention(dim, heads, depth)
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.conv = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU(inplace=True),
                                  nn.Conv2d(dim, dim, 3, 1, 1))
        self.ffn = nn.Sequential(nn.Linear(dim, dim * ffn_mult), nn.GELU(), nn.Linear(dim * ffn_mult, dim))

    def forward(self, x: torch.Tensor, pos: torch.Tensor, samples: torch.Tensor, k_pos: torch.Tensor,
                mask: torch.Tensor, depth_p: torch.Tensor | None = None) -> torch.Tensor:
        b, nq, d = x.shape
        x = x + self.cross(self.n1(x) + pos, samples, k_pos, mask, depth_p)
        g = x.transpose(1, 2).reshape(b, d, self.bev_hw[0], self.bev_hw[1])
        x = x + self.conv(g).reshape(b, d, nq).transpose(1, 2)
        return x + self.ffn(self.n2(x))


class E2EDrivingModel(nn.Module):
    """forward(images uint8 [B, C, H, W, 3], ego float32 [B, EGO_DIM], command int64 [B][, lead float32 [B, LEAD_DIM]])
    -> DrivingOutputs (lead: models with `model.plan_lead`, see perception.features.lead_vector).

    `rig` (list of {name, width, height, K, T_cam_to_ego}) comes from the dataset meta.json and is saved in the
    checkpoint; geometry buffers derived from it are non-persistent (rebuilt from rig + cfg on load).
    `forward_with_aux` also returns the dense BEV heads (and token depth logits) the training loss supervises.
    """

    def __init__(self, cfg: Config | ModelConfig, rig: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        m = cfg.model if isinstance(cfg, Config) else cfg
        self.cfg = m
        self.rig = rig if rig is not None else default_rig(m)
        if len(self.rig) != m.num_cameras:
            raise ValueError(f"rig has {len(self.rig)} cameras, config says num_cameras={m.num_cameras}")
        if len(m.ego_scale) != EGO_DIM:
            raise ValueError(f"model.ego_scale has {len(m.ego_scale)} entries, the ego input has {EGO_DIM} "
                             f"({', '.join(EGO_FIELDS)})")
        d = m.dim
        self.backbone = Backbone(m.backbone)
        self.proj = nn.Sequential(nn.Conv2d(self.backbone.out_channels, d, 1))
        self.mem_norm = nn.LayerNorm(d)
        h_in, w_in = m.image_hw[0] // m.input_downsample, m.image_hw[1] // m.input_downsample
        with torch.no_grad():
            hf, wf = self.backbone.eval()(torch.zeros(1, 3, h_in, w_in)).shape[-2:]
        self.backbone.train()
        self.feat_hw = (int(hf), int(wf))
        model_hw = (h_in * m.input_downsample, w_in * m.input_downsample)  # pixels the features cover
        # camera-aware positional encoding of every token (PETR: frustum points along its ray, in the ego frame)
        pts = normalize_xyz(frustum_points(self.rig, model_hw, self.feat_hw, m.pe_depths), m.bev_range)
        self.register_buffer("cam_coords", torch.tensor(pts.reshape(len(pts), -1), dtype=torch.float32), persistent=False)
        self.cam_pe = mlp(3 * len(m.pe_depths), d, d)
        # BEV queries and where they look
        nq = m.bev_hw[0] * m.bev_hw[1]
        cells = bev_cell_centres(m.bev_range, m.bev_hw)
        x0, x1, y0, y1 = m.bev_range
        cells_n = (cells - np.array([x0, y0])) / np.array([x1 - x0, y1 - y0])
        self.register_buffer("bev_xy", torch.tensor(cells_n, dtype=torch.float32), persistent=False)
        self.register_buffer("bev_cells", torch.tensor(m.bev_hw, dtype=torch.float32), persistent=False)
        idx, w, cam_of, mask, samp_depth = bev_sampling_table(self.rig, model_hw, self.feat_hw, m.bev_range, m.bev_hw,
                                                              list(m.sample_heights), m.sample_xy)
        self.n_samples = idx.shape[1]
        self.register_buffer("samp_idx", torch.tensor(idx.reshape(-1), dtype=torch.long), persistent=False)
        self.register_buffer("samp_w", torch.tensor(w[..., None], dtype=torch.float32), persistent=False)
        self.register_buffer("samp_cam", torch.tensor(cam_of, dtype=torch.long), persistent=False)
        self.register_buffer("samp_mask", torch.tensor(mask, dtype=torch.float32), persistent=False)
        # depth head (BEVDepth): a distribution over m.depth_bins optical-depth bins per camera token, supervised
        # by perception.data.depth and read at every sample point's depth to weight what the BEV cell lifts.
        # Convolutional (3x3, then 3x3 dilated 2: ~95 px receptive field) because a token inside a car has to see
        # where the car meets the road, a few tokens below it, to know its depth; a per-token MLP cannot.
        self.depth_head = None
        if m.depth_bins > 0:
            ch = max(16, d // 2)
            self.depth_head = nn.Sequential(conv_bn_relu(d, ch), nn.Conv2d(ch, ch, 3, 1, 2, dilation=2, bias=False),
                                            nn.BatchNorm2d(ch), nn.ReLU(inplace=True), nn.Conv2d(ch, m.depth_bins, 1))
            b_of = np.clip(np.rint(depth_bin_of(samp_depth, *m.depth_range, m.depth_bins)), 0, m.depth_bins - 1)
            didx = idx * m.depth_bins + b_of.astype(np.int64)[..., None]                          # [Nq, S, 4]
            self.register_buffer("samp_didx", torch.tensor(didx.reshape(-1), dtype=torch.long), persistent=False)
            origins, dirs = token_rays(self.rig, model_hw, self.feat_hw)
            self.token_origins, self.token_dirs = origins, dirs       # numpy: the loss builds depth labels from them
        self.samp_slot = nn.Parameter(torch.randn(self.n_samples, d) * 0.02)   # which pillar point (height, offset)
        self.samp_camera = nn.Embedding(m.num_cameras, d)
        self.bev_query = nn.Parameter(torch.randn(nq, d) * 0.02)
        self.bev_pe = mlp(24, d, d)
        self.bev_layers = nn.ModuleList(BevLayer(d, m.heads, m.ffn_mult, m.bev_hw, m.depth_bins > 0) for _ in range(m.bev_layers))
        self.bev_norm = nn.LayerNorm(d)
        # dense detection heads on the BEV grid (CenterPoint-style: class heatmap + box at the centre cell)
        k = m.num_classes
        self.heat_head = nn.Sequential(conv_bn_relu(d, d), nn.Conv2d(d, k, 1))
        nn.init.constant_(self.heat_head[-1].bias, -2.19)                   # prior p = 0.1
        self.reg_head = nn.Sequential(conv_bn_relu(d, d), nn.Conv2d(d, 8, 1))
        nn.init.zeros_(self.reg_head[-1].weight)
        with torch.no_grad():
            self.reg_head[-1].bias.copy_(torch.tensor([0, 0, math.log(4.0), math.log(1.8), 0, 1, 0, 0], dtype=torch.float32))
        self.register_buffer("cell_size_uv", torch.tensor([1.0 / m.bev_hw[0], 1.0 / m.bev_hw[1]], dtype=torch.float32),
                             persistent=False)
        # DETR decoder over the top-K proposals (set prediction, Hungarian-matched in training)
        self.det_in = nn.Linear(d, d)
        self.det_pe = mlp(24 + 6, d, d)
        self.det_layers = nn.ModuleList(DecoderLayer(d, m.heads, m.ffn_mult) for _ in range(m.det_layers))
        self.det_norm = nn.LayerNorm(d)
        self.cls_head = nn.Linear(d, k + 1)
        nn.init.zeros_(self.cls_head.weight)
        nn.init.zeros_(self.cls_head.bias)
        self.box_head = mlp(d, d, 8)
        nn.init.zeros_(self.box_head[-1].weight)
        nn.init.zeros_(self.box_head[-1].bias)
        # segmentation decoder: BEV grid -> mask resolution
        ups = max(0, int(round(math.log2(max(1.0, m.seg_hw[0] / m.bev_hw[0])))) - 1)   # last x2: bilinear logits
        ch = m.seg_channels
        seg: list[nn.Module] = [nn.Conv2d(d, ch, 1)]
        for _ in range(ups):
            seg += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), conv_bn_relu(ch, max(16, ch // 2))]
            ch = max(16, ch // 2)
        self.seg_up = nn.Sequential(*seg)
        self.seg_out = nn.Sequential(conv_bn_relu(ch, ch), nn.Conv2d(ch, 2, 1))
        # planning: ego query from ego status + command, reads BEV tokens and the detected objects
        self.ego_enc = mlp(EGO_DIM, d, d)
        self.cmd_embed = nn.Embedding(m.num_commands, d)
        self.plan_query_pos = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.plan_layers = nn.ModuleList(DecoderLayer(d, m.heads, m.ffn_mult, self_attn=False) for _ in range(m.plan_layers))
        self.plan_head = mlp(d * 2, d, m.future_steps * 2)
        nn.init.zeros_(self.plan_head[-1].weight)
        nn.init.zeros_(self.plan_head[-1].bias)
        # ego-status path (the "Is Ego Status All You Need?" MLP as a branch of the planner): the planning stage
        # (perception.plan_stage) starts it from the fitted baseline, so the attention path learns what the
        # cameras add to ego status instead of relearning ego kinematics from a few thousand steps.
        self.plan_ego = None
        if m.plan_ego_mlp > 0:
            self.plan_ego = EgoStatusMLP(EGO_DIM + (LEAD_DIM if m.plan_lead else 0), m.num_commands, m.plan_ego_mlp,
                                         m.future_steps * 2)
        # tracked lead (model.plan_lead): enters the ego query and the ego-status branch; zero-initialised output,
        # so a planner that gains the input starts where it was
        self.lead_enc = None
        if m.plan_lead:
            self.lead_enc = mlp(LEAD_DIM, d, d)
            nn.init.zeros_(self.lead_enc[-1].weight)
            nn.init.zeros_(self.lead_enc[-1].bias)
            self.register_buffer("lead_scale", torch.tensor(LEAD_SCALE, dtype=torch.float32), persistent=False)
            self.register_buffer("no_lead", torch.tensor(no_lead(), dtype=torch.float32), persistent=False)
        self.register_buffer("times", torch.arange(1, m.future_steps + 1, dtype=torch.float32) * m.future_dt, persistent=False)
        self.register_buffer("ego_scale", torch.tensor(m.ego_scale, dtype=torch.float32), persistent=False)

    # -- pieces (kept separate so losses/tests can reuse them)
    def camera_tokens(self, images: torch.Tensor) -> torch.Tensor:
        m = self.cfg
        b, c, h, w, _ = images.shape
        x = images.to(torch.float32).permute(0, 1, 4, 2, 3).reshape(b * c, 3, h, w)
        x = (x * (1.0 / 255.0) - IMAGE_MEAN) * (1.0 / IMAGE_STD)
        if m.input_downsample > 1:
            x = F.avg_pool2d(x, m.input_downsample)
        f = self.proj(self.backbone(x))  # [B*C, d, Hf, Wf]
        f = f.reshape(b, c, m.dim, -1).permute(0, 1, 3, 2).reshape(b, -1, m.dim)
        return self.mem_norm(f)

    def sample(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, Ntok, d] -> [B, Nq, S, d]: bilinear samples at the BEV cells' projected pillar points.

        One Gather per bilinear neighbour times its weight: the same sum as one Gather of 4x the rows, a 5-D reshape
        and a ReduceSum, but 1.1-1.25x faster end to end in ONNX Runtime on this CPU (benchmarks/int8_profile.py
        measured both)."""
        b, _, d = tokens.shape   # (any channel count: the attention samples the tokens and a ones channel)
        nq = self.samp_mask.shape[0]
        idx = self.samp_idx.reshape(nq * self.n_samples, 4)
        w = self.samp_w.reshape(nq * self.n_samples, 4, 1)
        out = torch.index_select(tokens, 1, idx[:, 0]) * w[:, 0]
        for j in range(1, 4):
            out = out + torch.index_select(tokens, 1, idx[:, j]) * w[:, j]
        return out.reshape(b, nq, self.n_samples, d)

    def depth_logits(self, mem: torch.Tensor) -> torch.Tensor:
        """Camera tokens (with their ray encoding) [B, C*Hf*Wf, d] -> depth-bin logits [B, C*Hf*Wf, bins]."""
        b, _, d = mem.shape
        c, (hf, wf) = self.cfg.num_cameras, self.feat_hw
        g = mem.reshape(b * c, hf, wf, d).permute(0, 3, 1, 2)
        out = self.depth_head(g)                                                   # [B*C, bins, Hf, Wf]
        return out.permute(0, 2, 3, 1).reshape(b, c * hf * wf, -1)

    def sample_depth(self, depth_logits: torch.Tensor) -> torch.Tensor:
        """[B, Ntok, bins] -> [B, Nq, S]: the depth probability at every sample point's own depth (bilinear over the
        4 neighbouring tokens; 0 where no camera sees the point)."""
        b = depth_logits.shape[0]
        nq = self.samp_mask.shape[0]
        p = torch.index_select(depth_logits.softmax(-1).reshape(b, -1), 1, self.samp_didx)
        return (p.reshape(b, nq, self.n_samples, 4) * self.samp_w[..., 0]).sum(-1)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The graph's inputs: images, ego, command, and lead where the planner takes the tracked lead."""
        return INPUT_NAMES + (("lead",) if self.cfg.plan_lead else ())

    def forward(self, images: torch.Tensor, ego: torch.Tensor, command: torch.Tensor,
                lead: torch.Tensor | None = None) -> DrivingOutputs:
        return self.forward_with_aux(images, ego, command, lead)[0]

    def plan(self, ego: torch.Tensor, command: torch.Tensor, bev: torch.Tensor, det_feat: torch.Tensor,
             det_pos: torch.Tensor, lead: torch.Tensor | None = None) -> torch.Tensor:
        """Planning head: ego query (ego status + command) reads the BEV tokens and the decoded object queries.

        A method of its own so that the planning stage (perception.plan_stage) can train it on cached perception
        features, as UniAD trains planning after perception."""
        m = self.cfg
        b = ego.shape[0]
        ego_in = ego / self.ego_scale
        e = self.ego_enc(ego_in) + self.cmd_embed(command)
        if self.lead_enc is not None:
            if lead is None:      # perception-only callers (features, training of the other heads): no lead
                lead = self.no_lead[None].expand(b, -1)
            ls = lead / self.lead_scale
            e = e + self.lead_enc(ls)
            ego_in = torch.cat([ego_in, ls], dim=-1)
        p = e[:, None, :]
        bev_pos = self.bev_pe(fourier(self.bev_xy))[None]
        pmem = torch.cat([bev, det_feat], dim=1)
        pmem_pos = torch.cat([bev_pos.expand(b, -1, -1), det_pos], dim=1)
        for layer in self.plan_layers:
            p = layer(p, self.plan_query_pos, pmem, pmem_pos)
        offs = self.plan_head(torch.cat([p[:, 0], e], dim=-1))
        if self.plan_ego is not None:
            offs = offs + self.plan_ego(ego_in, command)
        return motion_prior(ego, self.times, m.plan_prior) + offs.reshape(b, m.future_steps, 2)

    def forward_with_aux(self, images: torch.Tensor, ego: torch.Tensor, command: torch.Tensor,
                         lead: torch.Tensor | None = None) -> tuple[DrivingOutputs, dict[str, torch.Tensor]]:
        m = self.cfg
        b = images.shape[0]
        hq, wq = m.bev_hw
        nq = hq * wq
        mem = self.camera_tokens(images) + self.cam_pe(self.cam_coords)[None]
        depth_logits = self.depth_logits(mem) if self.depth_head is not None else None        # [B, Ntok, bins]
        depth_p = self.sample_depth(depth_logits) if depth_logits is not None else None
        k_pos = (self.samp_slot[None] + self.samp_camera(self.samp_cam))[None]    # [1, Nq, S, d]
        bev_pos = self.bev_pe(fourier(self.bev_xy))[None]
        x = self.bev_query[None].expand(b, -1, -1)
        samples = self.sample(torch.cat([mem, torch.ones_like(mem[..., :1])], dim=-1))   # [B, Nq, S, d+1]
        for layer in self.bev_layers:
            x = layer(x, bev_pos, samples, k_pos, self.samp_mask, depth_p)
        bev = self.bev_norm(x)  # [B, Nq, d]
        grid = bev.transpose(1, 2).reshape(b, m.dim, hq, wq)
        # dense heads
        heat = self.heat_head(grid)                                               # [B, K, Hq, Wq]
        reg = self.reg_head(grid)                                                 # [B, 8, Hq, Wq]
        reg_t = reg.flatten(2).transpose(1, 2)                                    # [B, Nq, 8]
        centre = self.bev_xy[None] + torch.tanh(reg_t[..., 0:2]) * self.cell_size_uv   # within +-1 cell
        dense_boxes = torch.cat([centre, reg_t[..., 2:]], dim=-1)                 # contract parameterization
        heat_t = heat.flatten(2).transpose(1, 2)                                  # [B, Nq, K]
        # top-K proposals: local maxima of the class-agnostic score (3x3 max-pool NMS, as CenterPoint)
        score = heat.max(dim=1, keepdim=True)[0]
        peak = (score >= F.max_pool2d(score, 3, 1, 1)).to(score.dtype)
        ranked = (score - (1.0 - peak) * 1e4).flatten(1)   # [B, Nq] logits: no ties, so torch/ONNX TopK agree
        top = torch.topk(ranked, m.num_queries, dim=1)[1]                         # [B, Q]
        gidx = top[..., None]
        q_feat = torch.gather(bev, 1, gidx.expand(-1, -1, m.dim))
        q_heat = torch.gather(heat_t, 1, gidx.expand(-1, -1, heat_t.shape[-1]))
        q_box = torch.gather(dense_boxes, 1, gidx.expand(-1, -1, 8))
        det_pos = self.det_pe(torch.cat([fourier(q_box[..., 0:2].detach()), q_box[..., 2:].detach()], dim=-1))
        # x and y apart: broadcasting [B, Q, 1, 2] against [Nq, 2] runs an innermost loop of 2 in ONNX Runtime
        # (0.35 ms of the frame); [B, Q, 1] against [Nq] is contiguous. The same sum.
        qb = q_box.detach()
        dx = (qb[..., 0:1] - self.bev_xy[:, 0]) * self.bev_cells[0]
        dy = (qb[..., 1:2] - self.bev_xy[:, 1]) * self.bev_cells[1]
        d2 = dx * dx + dy * dy                                                    # [B, Q, Nq]
        det_bias = -torch.clamp(d2 / (2.0 * m.det_sigma_cells ** 2), max=BIAS_CAP)
        det_bias = det_bias[:, None]                                              # [B, 1, Q, Nq]: all heads
        q = self.det_in(q_feat)
        for layer in self.det_layers:
            q = layer(q, det_pos, bev, bev_pos, cross_bias=det_bias)
        q = self.det_norm(q)
        no_obj = torch.zeros_like(q_heat[..., :1])
        logits = self.cls_head(q) + torch.cat([q_heat, no_obj], dim=-1)
        boxes = q_box + self.box_head(q)
        # segmentation
        seg = self.seg_out(self.seg_up(grid))
        seg = F.interpolate(seg, size=tuple(m.seg_hw), mode="bilinear", align_corners=False)
        plan = self.plan(ego, command, bev, q, det_pos, lead)
        aux = {"heat": heat, "dense_boxes": dense_boxes, "bev": bev, "det_feat": q, "det_pos": det_pos}
        if depth_logits is not None:
            aux["depth_logits"] = depth_logits
            aux["token_rays"] = (self.token_origins, self.token_dirs)
        return DrivingOutputs(logits, boxes, seg, plan), aux


# ----------------------------------------------------------------------------------------------------- utilities
def count_flops(model: nn.Module, batch: int = 1) -> int:
    """FLOPs of one forward (matmul/conv counted as 2 * MACs) via torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    m = model.cfg
    imgs = torch.zeros(batch, m.num_cameras, m.image_hw[0], m.image_hw[1], 3, dtype=torch.uint8)
    was = model.training
    model.eval()
    with FlopCounterMode(display=False) as fc:  # (no torch.no_grad: its module tracker needs autograd)
        model(imgs, torch.zeros(batch, EGO_DIM), torch.zeros(batch, dtype=torch.long))
    model.train(was)
    return int(fc.get_total_flops())


def dummy_inputs(mcfg: ModelConfig, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(images, ego, command[, lead]): one tensor per graph input (`E2EDrivingModel.input_names`)."""
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (batch, mcfg.num_cameras, mcfg.image_hw[0], mcfg.image_hw[1], 3), generator=g,
                         dtype=torch.uint8)
    ego = torch.tensor([[8.0, 0.3, 0.05, 0.1, 10.0]], dtype=torch.float32).repeat(batch, 1)
    out: tuple[torch.Tensor, ...] = (imgs, ego, torch.zeros(batch, dtype=torch.long))
    if mcfg.plan_lead:
        out += (torch.tensor([[1.0, 20.0, 0.3, 6.0, 0.0]], dtype=torch.float32).repeat(batch, 1),)
    return out


def export_onnx(model: E2EDrivingModel, path: str, opset: int = 17, batch: int = 1) -> str:
    """One standard ONNX graph with a dynamic batch axis; inputs images/ego/command, outputs OUTPUT_NAMES."""
    model = model.eval()
    names = model.input_names
    dyn = {n: {0: "batch"} for n in (*names, *OUTPUT_NAMES)}
    with torch.no_grad():
        torch.onnx.export(model, dummy_inputs(model.cfg, batch), path, input_names=list(names),
                          output_names=list(OUTPUT_NAMES), opset_version=opset, dynamic_axes=dyn,
                          do_constant_folding=True, dynamo=False)
    return path
