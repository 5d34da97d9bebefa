"""Directions in parameter space for landscape scans.

All directions are flat vectors over the actor's parameters (flat.ParamSpace order). Which parameters
move is explicit: `params` is a set of block kinds among {"weight", "bias", "log_std"}; the others get a
zero direction. Observation statistics never move: the centre checkpoint's normalizer is used for
every point of a scan.
"""

import numpy as np
import torch

from ..core.errors import LandscapeError
from ..model.flat import ParamSpace

PARAM_SETS = {"weights": {"weight"}, "weights+biases": {"weight", "bias"}, "all": {"weight", "bias", "log_std"}}


def param_kinds(name: str) -> set[str]:
    if name not in PARAM_SETS:
        raise LandscapeError(f"unknown parameter set {name!r}; choose from {', '.join(PARAM_SETS)}")
    return PARAM_SETS[name]


def random_direction(
    space: ParamSpace, theta: torch.Tensor, generator: torch.Generator, norm: str = "filter", params: str = "weights"
) -> torch.Tensor:
    """A Gaussian direction, normalized to the scale of theta (Li et al. 2018).

    filter: each row (output unit) of each weight matrix is scaled to the norm of the same row of theta;
            a bias or log-std block counts as one filter.
    layer:  each block is scaled to the norm of the same block of theta.
    """
    if norm not in ("filter", "layer"):
        raise LandscapeError(f"unknown normalization {norm!r}; choose filter or layer")
    kinds = param_kinds(params)
    d = torch.randn(space.size, generator=generator, dtype=torch.float64)
    out = torch.zeros(space.size, dtype=torch.float64)
    th = theta.to(torch.float64)
    for b in space.blocks:
        if b.kind not in kinds:
            continue
        sl = slice(b.offset, b.offset + b.size)
        db, tb = d[sl].view(b.shape), th[sl].view(b.shape)
        if norm == "filter" and b.kind == "weight":  # per output unit = per row of [out, in]
            scale = tb.norm(dim=1, keepdim=True) / db.norm(dim=1, keepdim=True)
        else:
            scale = tb.norm() / db.norm()
        out[sl] = (db * scale).reshape(-1)
    return out.to(torch.float32)


def scaled_direction(vector: torch.Tensor, theta: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A direction along `vector` restricted to `mask`, scaled to the norm of theta on the mask.

    Used for gradient directions: scale by a norm, never by a signed sum of entries.
    """
    v = torch.where(mask, vector.to(torch.float64), torch.zeros((), dtype=torch.float64))
    n = v.norm()
    if not torch.isfinite(n) or n == 0:
        raise LandscapeError("cannot build a direction from a zero or non-finite vector")
    return (v / n * theta.to(torch.float64)[mask].norm()).to(torch.float32)


def line_direction(theta_a: torch.Tensor, theta_b: torch.Tensor) -> torch.Tensor:
    """theta_b - theta_a: coordinate 0 is A, coordinate 1 is B."""
    if theta_a.shape != theta_b.shape:
        raise LandscapeError("the two checkpoints have different network shapes; cannot draw the line between them")
    return (theta_b - theta_a).to(torch.float32)


def pca_directions(trajectory: torch.Tensor, center: torch.Tensor, n: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """Top-n principal directions of a training trajectory's offsets from `center`.

    Each direction is a unit principal axis scaled to the largest |projection| of the trajectory on it,
    so coordinates in [-1, 1] cover the run. Returns (directions [n, P], explained variance ratios).
    """
    if trajectory.shape[0] < n + 1:
        raise LandscapeError(f"need at least {n + 1} trajectory checkpoints for {n} principal directions")
    x = (trajectory - center).to(torch.float64)
    u, s, vh = torch.linalg.svd(x - x.mean(0), full_matrices=False)
    axes = vh[:n]
    proj = x @ axes.T
    dirs = axes * proj.abs().max(0).values[:, None]
    ratio = (s[:n] ** 2 / (s**2).sum()).numpy()
    return dirs.to(torch.float32), ratio


def check_direction(d: torch.Tensor, name: str = "direction") -> torch.Tensor:
    if not torch.isfinite(d).all():
        raise LandscapeError(f"{name} contains NaN or infinite entries")
    if d.abs().max() == 0:
        raise LandscapeError(f"{name} is all zeros")
    return d


def rebase(theta: torch.Tensor, agent, centre) -> torch.Tensor:
    """`agent`'s flat parameters re-expressed for `centre`'s observation normalizer.

    A scan keeps the centre's observation statistics for every point, so another checkpoint enters the
    plane with its change of statistics folded into its first layer: the rebased policy acts exactly as
    the original wherever neither normalizer clips.
    """
    a, b = centre.obs_norm, agent.obs_norm
    sd_a, sd_b = np.sqrt(a.var) + 1e-8, np.sqrt(b.var) + 1e-8
    m_a = a.mean if a.center else np.zeros_like(a.mean)
    m_b = b.mean if b.center else np.zeros_like(b.mean)
    space = agent.space
    v = {k: t.clone() for k, t in space.views(theta[None].to(torch.float64)).items()}
    w, bias = v["net.0.weight"][0], v["net.0.bias"][0]
    scale = torch.as_tensor(sd_a / sd_b, dtype=torch.float64)
    shift = torch.as_tensor((m_a - m_b) / sd_b, dtype=torch.float64)
    new_w, new_b = w * scale[None, :], bias + w @ shift
    out = theta.to(torch.float64).clone()
    for blk, val in (("net.0.weight", new_w), ("net.0.bias", new_b)):
        bl = next(x for x in space.blocks if x.name == blk)
        out[bl.offset : bl.offset + bl.size] = val.reshape(-1)
    return out.to(torch.float32)
