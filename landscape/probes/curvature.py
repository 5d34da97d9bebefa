"""Curvature at a point: extreme Hessian eigenvalues from Hessian-vector products (Lanczos).

Power iteration finds the eigenvalue of largest |value| only -- at a saddle or a maximum of the return that
is usually a negative one, and the other end of the spectrum is missed. Lanczos with full
re-orthogonalization gives both ends from the same Krylov space: `extreme_eigenvalues` returns the largest
and the smallest (most negative) Ritz values; `power_iteration(..., shift)` is kept for the check
(with shift = the largest |eigenvalue| it finds the most negative one).

`surrogate_function` makes the PPO clipped surrogate (data collected once at theta0 by the batched
evaluator, as probes.SurrogateBatch) a differentiable function of the flat parameters, for Hessian-vector
products on real checkpoints. Its advantages come from the one advantage path (gradients.advantages): the
critic, trained on scaled rewards, is rescaled to raw rewards by a least-squares fit before GAE, so the
baseline is a real one (before, GAE ran on raw rewards against the unscaled critic, about 110x apart on
Hopper, and every eigenvalue in the README's old reports was taken with no effective baseline).
"""

import numpy as np
import torch


def hvp_fn(f, theta: torch.Tensor):
    """v -> H v for the scalar function f at theta (double backward)."""
    theta = theta.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(f(theta), theta, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        (hv,) = torch.autograd.grad(g, theta, grad_outputs=v.to(g.dtype), retain_graph=True)
        return hv.detach()

    return hvp


def lanczos(hvp, dim: int, iters: int = 30, seed: int = 0, dtype=torch.float64) -> np.ndarray:
    """Ritz values (ascending) of the Krylov space of size min(iters, dim), full re-orthogonalization."""
    m = min(iters, dim)
    q = torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    Q = [q / q.norm()]
    alpha, beta = [], []
    for j in range(m):
        w = hvp(Q[j]).to(dtype)
        a = torch.dot(w, Q[j])
        alpha.append(float(a))
        for _ in range(2):  # re-orthogonalize twice against the whole basis (numerical safety)
            B = torch.stack(Q)
            w = w - B.T @ (B @ w)
        b = float(w.norm())
        if j == m - 1 or b < 1e-10 * max(1.0, abs(float(a))):
            break
        beta.append(b)
        Q.append(w / b)
    T = np.diag(alpha) + np.diag(beta[: len(alpha) - 1], 1) + np.diag(beta[: len(alpha) - 1], -1)
    return np.linalg.eigvalsh(T)


def extreme_eigenvalues(hvp, dim: int, k: int = 3, iters: int = 30, seed: int = 0) -> dict:
    """The k largest and the k smallest Hessian eigenvalues (Lanczos estimates)."""
    ritz = lanczos(hvp, dim, iters, seed)
    k = min(k, len(ritz))
    return {"largest": ritz[::-1][:k].tolist(), "smallest": ritz[:k].tolist(), "iters": len(ritz)}


def power_iteration(hvp, dim: int, iters: int = 200, shift: float = 0.0, seed: int = 0) -> float:
    """The eigenvalue of H - shift I of largest modulus, plus shift (shift = 0: largest |eigenvalue|)."""
    v = torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v = v / v.norm()
    lam = 0.0
    for _ in range(iters):
        w = hvp(v).to(torch.float64) - shift * v
        lam = float(torch.dot(v, w))
        v = w / w.norm()
    return lam + shift


def surrogate_function(agent, evaluator, episodes: int = 8, seed: int = 1, clip: float = 0.2):
    """theta [P] -> mean PPO clipped surrogate (differentiable) on data collected at the agent's parameters."""
    from .metrics import SurrogateBatch

    sb = SurrogateBatch(agent, evaluator, episodes, seed, clip)
    return lambda theta: sb.per_sample(theta.to(torch.float32)[None])[0].mean().to(theta.dtype)
