"""The stationarity verdict: a sequential test of ||grad J|| against a threshold, with stated error rates.

Three values, never "stationary because an interval reaches zero":

- **stationary**: the upper confidence bound of the gradient norm is below the threshold tau;
- **not stationary**: the lower confidence bound is above tau;
- **unresolved**: neither, when the episode budget ran out.

Bounds come from the unbiased squared-norm estimate U (gradients.squared_norm: mean of g_i . g_j over pairs
of episodes, jackknife standard error s): lower = sqrt(max(U - z s, 0)), upper = sqrt(max(U, 0) + z s) (the
clamp only widens the upper bound, so an unluckily negative U never certifies stationarity). A point whose
SE is 0 or not finite is never called stationary from samples; exact (closed-form) gradients are flagged
`exact` and compared with tau directly.

**Threshold.** An absolute tau, or (the default of `landscape.fosp`) a relative one: tau = F x the gradient
norm at R random points at distance r ||theta|| around the candidate (Gaussian directions on the moving
parameters; `reference_points`). Near a smooth maximum |grad J(theta + d)| ~ |H d|, so "stationary at
F = 0.5, r = 0.05" says: the gradient here is less than half of what it is 5% of ||theta|| away, i.e. a
stationary point lies within about F r ||theta|| in the Hessian's metric. A relative threshold is unchanged
by rescaling rewards or the std, so verdicts compare across policies where raw norms do not.

**Sequential sampling and error rates.** Points start with `start` episodes; at each look every undecided
point gets more fresh episodes (doubling, in one batched call for all of them) until decided or `budget`
episodes. With L looks each side is tested at z = Phi^-1(1 - alpha / L) (Bonferroni over looks), so under
the normal approximation of U: P(stationary | true norm >= tau) <= alpha and P(not stationary | true norm
<= tau) <= alpha, whatever the stopping. Checked by repetition on ToyTarget and ToyTrap, where the exact
gradient is known (tests/test_stationarity.py).

**Power.** At the end each point reports its minimum detectable norm: the smallest true norm that a sample
of this size calls "not stationary" with probability `power` (0.8): mdn = sqrt(tau^2 + (z + z_power) s),
and the largest norm it would certify as stationary with that probability, sqrt(max(tau^2 - (z + z_power)
s, 0)). Between the two the sample cannot decide; more episodes narrow it as 1 / E^(1/4) in the norm
(1 / sqrt(E) in U).
"""

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm as _normal

from ..probes.gradients import norm_se as norm_se_of
from ..probes.gradients import squared_norm

STATIONARY, NOT_STATIONARY, UNRESOLVED = "stationary", "not stationary", "unresolved"
VERDICTS = (STATIONARY, NOT_STATIONARY, UNRESOLVED)
POWER = 0.8
ALPHA = 0.05  # error rate per side of a single-look verdict (grid screens, the ascent's stop; fosp --alpha)
REL_THRESHOLD = 0.25  # grid screens: tau = this x the median gradient norm of the grid's cells


def looks(start: int, budget: int) -> list[int]:
    """Episode counts at which the test looks: start, 2 start, 4 start, ..., budget."""
    if start < 3 or budget < start:
        raise ValueError("need 3 <= start <= budget episodes")
    out = [start]
    while out[-1] < budget:
        out.append(min(2 * out[-1], budget))
    return out


def z_value(alpha: float, n_looks: int = 1) -> float:
    return float(_normal.ppf(1 - alpha / n_looks))


def boundary_se(g: torch.Tensor, tau) -> np.ndarray:
    """Standard error of U for a true gradient of norm tau in the worst direction, from g [K, E, P]:
    sqrt(4 tau^2 lambda_max(Sigma) / E + 2 tr(Sigma^2) / (E (E - 1))) with Sigma the covariance of the
    per-episode gradient (its top eigenvalue from the E x E Gram matrix of the centred gradients, tr(Sigma^2)
    from the Gram's off-diagonal). This is Var(U) at the boundary ||grad J|| = tau of both hypotheses, so it
    does not shrink with the estimate itself (module docstring)."""
    g = g.to(torch.float64)
    K, E, P = g.shape
    tau2 = np.broadcast_to(np.asarray(tau, float) ** 2, (K,))
    out = np.empty(K)
    for k in range(K):
        c = g[k] - g[k].mean(0)
        sq = (c**2).sum(1)  # [E] diagonal of the Gram matrix
        if min(E, P) <= 1024:
            small = c.T @ c if P <= E else c @ c.T  # same non-zero spectrum and Frobenius norm as the Gram
            lam = float(torch.linalg.eigvalsh(small)[-1]) / (E - 1)
            tr2 = float((small**2).sum() - (sq**2).sum()) / (E * (E - 1))
        else:  # large: top eigenvalue by power iteration, tr(Sigma^2) <= lambda_max tr(Sigma) (conservative)
            v = torch.randn(P, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
            for _ in range(50):
                v = c.T @ (c @ v)
                v = v / v.norm()
            lam = float(v @ (c.T @ (c @ v))) / (E - 1)
            tr2 = lam * float(sq.sum()) / (E - 1)
        out[k] = np.sqrt(4 * tau2[k] * lam / E + 2 * max(tr2, 0.0) / (E * (E - 1))) if np.isfinite(tau2[k]) else np.nan
    return out


def bounds(U, se_lo, se_hi, z: float) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) confidence bounds on the norm: sqrt(max(U - z se_lo, 0)), sqrt(max(U, 0) + z se_hi)."""
    U, se_lo, se_hi = (np.asarray(x, float) for x in (U, se_lo, se_hi))
    return np.sqrt(np.maximum(U - z * se_lo, 0.0)), np.sqrt(np.maximum(U, 0.0) + z * se_hi)


def verdict(U, se_lo, se_hi, tau, z: float, exact: bool = False) -> np.ndarray:
    """Per point one of VERDICTS (module docstring). se_lo: the jackknife SE of U (lower bound), se_hi: the
    larger of it and the boundary SE (upper bound). A point with a zero or non-finite SE is never decided;
    exact=True: U is the exact squared norm, compared with tau^2 directly."""
    U, se_lo, se_hi, tau = np.broadcast_arrays(*(np.asarray(x, float) for x in (U, se_lo, se_hi, tau)))
    if exact:
        return np.where(U < tau**2, STATIONARY, NOT_STATIONARY)
    lo, hi = bounds(U, se_lo, se_hi, z)
    ok = np.isfinite(U) & np.isfinite(se_lo) & np.isfinite(se_hi) & (se_lo > 0) & (se_hi > 0) & np.isfinite(tau)
    return np.where(ok & (hi < tau), STATIONARY, np.where(ok & (lo > tau), NOT_STATIONARY, UNRESOLVED))


def from_norm(norm, se) -> tuple[np.ndarray, np.ndarray]:
    """(U, SE of U) back from a stored norm and display SE (gradients.norm_se, inverted exactly): where the
    norm's interval is clamped at 0 (d^2 > n^2 / 2), s = 4 d^2 - n^2; else s = 2 d sqrt(n^2 - d^2). A clamped
    U (norm 0) comes back as 0, which gives the same bounds."""
    n2, d = np.asarray(norm, float) ** 2, np.asarray(se, float)
    with np.errstate(invalid="ignore"):
        s = np.where(d**2 > n2 / 2, 4 * d**2 - n2, 2 * d * np.sqrt(np.maximum(n2 - d**2, 0.0)))
    return n2, s


def norm_verdict(norm, se, tau, z: float | None = None, exact: bool = False) -> np.ndarray:
    """`verdict` for gradient norms with display SEs (scan stores, the ascent's oracle); z defaults to a
    single look at ALPHA."""
    U, s = from_norm(norm, se)
    return verdict(U, s, s, tau, z_value(ALPHA) if z is None else z, exact)


def grid_verdicts(norm: np.ndarray, se: np.ndarray, rel: float = REL_THRESHOLD, z: float | None = None) -> np.ndarray:
    """Per grid cell a verdict, "" where not computed or the SE is 0 / not finite: norm_verdict against
    tau = rel x the median norm over the decidable cells -- the gradient at random nearby points, which makes
    it scale-free. A screen of a scan store, not fosp's sequential test (one look, no boundary SE)."""
    norm, se = np.asarray(norm, float), np.asarray(se, float)
    ok = np.isfinite(norm) & np.isfinite(se) & (se > 0)
    out = np.full(norm.shape, "", dtype=object)
    if ok.any():
        out[ok] = norm_verdict(norm[ok], se[ok], rel * float(np.median(norm[ok])), z)
    return out


def detectable(se, tau, z: float, power: float = POWER) -> tuple[np.ndarray, np.ndarray]:
    """(minimum detectable norm, largest certifiable norm) at this SE of U (module docstring)."""
    d = (z + _normal.ppf(power)) * np.asarray(se, float)
    tau2 = np.asarray(tau, float) ** 2
    return np.sqrt(tau2 + d), np.sqrt(np.maximum(tau2 - d, 0.0))


def summary(g: torch.Tensor, tau, z: float, power: float = POWER) -> list[dict]:
    """Per point of g [K, E, P]: U with its jackknife SE, the norm estimate with a display SE, the test's
    boundary SE, bounds, verdict and detectable norms (tau = inf: estimates only)."""
    U, U_se = squared_norm(g)
    norm, norm_se = norm_se_of(U, U_se)
    K = len(U)
    tau = np.broadcast_to(np.asarray(tau, float), (K,))
    out = []
    if np.all(np.isfinite(tau)):
        se_t = np.maximum(boundary_se(g, tau), U_se)
        lo, hi = bounds(U, U_se, se_t, z)
        v = verdict(U, U_se, se_t, tau, z)
        mdn, cert = detectable(se_t, tau, z, power)
    for k in range(K):
        d = {"norm": float(norm[k]), "norm_se": float(norm_se[k]), "U": float(U[k]), "U_se": float(U_se[k])}
        if np.isfinite(tau[k]):
            d.update(
                {
                    "verdict": str(v[k]),
                    "threshold": float(tau[k]),
                    "test_se": float(se_t[k]),
                    "lower": float(lo[k]),
                    "upper": float(hi[k]),
                    "min_detectable_norm": float(mdn[k]),
                    "max_certifiable_norm": float(cert[k]),
                }
            )
        out.append(d)
    return out


@dataclass
class Blocks:
    """Named groups of flat-parameter coordinates: each layer (weight + bias) and the log-std. With a mask,
    the indices are positions within the masked vector g[..., mask]."""

    names: list
    index: list  # LongTensor of coordinates per name

    @classmethod
    def of(cls, space, mask: torch.Tensor | None = None) -> "Blocks":
        groups: dict[str, list] = {}
        for b in space.blocks:
            name = "log_std" if b.name == "log_std" else f"layer{int(b.name.split('.')[1]) // 2}"
            groups.setdefault(name, []).extend(range(b.offset, b.offset + b.size))
        names, index = [], []
        pos = torch.cumsum(mask.long(), 0) - 1 if mask is not None else None
        for name, idx in groups.items():
            idx = torch.tensor(idx)
            if mask is not None:
                idx = pos[idx[mask[idx]]]
            if idx.numel():
                names.append(name)
                index.append(idx)
        return cls(names, index)


def sequential_test(
    sample,
    K: int,
    tau,
    start: int = 16,
    budget: int = 1024,
    alpha: float = 0.05,
    blocks: Blocks | None = None,
    power: float = POWER,
    progress=None,
) -> list[dict]:
    """Sequential stationarity test of K points.

    sample(idx, n, look) -> per-episode gradients for the points idx (np.ndarray of indices into 0..K-1), n
    fresh episodes each: a tensor [len(idx), n, P] or a dict {kind: tensor} ("raw", "scaled", ...); the
    verdict is taken on the first kind, every kind is summarized. tau: threshold [K] (or a dict per kind).
    Returns per point {"verdict", "episodes", "looks", "z", "alpha", <kind>: summary, "blocks": {...}}.
    """
    ns = looks(start, budget)
    z = z_value(alpha, len(ns))
    taus = tau if isinstance(tau, dict) else None
    store: list[dict] = [{} for _ in range(K)]
    have = np.zeros(K, int)
    decided = np.zeros(K, bool)
    result: list[dict] = [None] * K
    for j, n in enumerate(ns):
        idx = np.flatnonzero(~decided)
        if idx.size == 0:
            break
        got = sample(idx, n - have[idx[0]], j)
        got = got if isinstance(got, dict) else {"raw": got}
        kinds = list(got)
        for i, k in enumerate(idx):
            for kind, g in got.items():
                store[k][kind] = g[i] if kind not in store[k] else torch.cat([store[k][kind], g[i]])
            have[k] = n
        for k in idx:
            res = {"episodes": int(have[k]), "looks": j + 1, "z": z, "alpha": alpha, "power": power}
            for kind in kinds:
                t = taus[kind] if taus else tau
                t = np.broadcast_to(np.asarray(t, float), (K,))[k]
                res[kind] = summary(store[k][kind][None], t, z, power)[0]
                if blocks is not None:
                    res[kind]["blocks"] = {
                        name: summary(store[k][kind][None][..., ix], np.inf, z)[0]
                        for name, ix in zip(blocks.names, blocks.index)
                    }
            res["verdict"] = res[kinds[0]]["verdict"]
            result[k] = res
            if res["verdict"] != UNRESOLVED:
                decided[k] = True
        if progress is not None:
            progress(j, ns, decided)
    return result
