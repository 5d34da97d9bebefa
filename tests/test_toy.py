import numpy as np
import torch
from scipy.optimize import minimize

from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.toys import trap


def _maximize(f, start):
    r = minimize(
        lambda w: -float(f(torch.tensor(w))),
        np.array(start, float),
        method="Nelder-Mead",
        options=dict(xatol=1e-10, fatol=1e-14, maxiter=5000),
    )
    return r.x


def test_env_returns_match_closed_form():
    """Monte-Carlo returns of the Gymnasium env (through the batched evaluator) vs the closed form."""
    agent = trap.make_agent()
    Ws = torch.tensor([[0.9, 1.5], [-1.0, 0.2], [0.3, 0.8]], dtype=torch.float64)
    ev = BatchedEvaluator("ToyTrap-v0", agent.space, agent.obs_norm)
    E = 3000
    ret = ev.run(trap.to_theta(Ws), E, seed=0, deterministic=False).returns
    ev.close()
    exact = trap.natural_return(Ws).numpy()
    se = ret.std(1) / np.sqrt(E)
    assert np.all(np.abs(ret.mean(1) - exact) < 4 * se), (ret.mean(1), exact, se)


def test_worst_case_is_exact_against_dense_search():
    """min over the 16 vertex choices == min over a dense grid of mean shifts in [-c, c]^2."""
    gen = torch.Generator().manual_seed(0)
    Ws = torch.rand(20, 2, generator=gen, dtype=torch.float64) * 4 - 2
    d = torch.linspace(-1, 1, 201, dtype=torch.float64)
    for W in Ws:
        c = trap.EPS * W.abs().sum() / trap.NORM
        dense = trap.shifted_return(W, c * d[:, None], c * d[None, :]).min()
        assert abs(float(dense) - float(trap.worst_return(W))) < 1e-9


def test_stationary_points_of_the_closed_form():
    nat = _maximize(trap.natural_return, (0.0, 1.0))
    orp = _maximize(trap.worst_return, (0.4, 1.4))
    trp = _maximize(trap.worst_return, (-1.0, 0.1))
    assert np.allclose(nat, trap.NATURAL_OPT, atol=1e-3) and np.allclose(orp, trap.ORP, atol=1e-3)
    assert np.allclose(trp, trap.TRAP, atol=1e-3)
    # gradients vanish (natural: smooth) / 0 is in the Clarke subdifferential (worst case: kinks)
    assert trap.gradient(nat).norm() < 1e-5
    assert trap.clarke_gradient(orp, tol=1e-6).norm() < 1e-4 and trap.clarke_gradient(trp, tol=1e-6).norm() < 1e-4
    # ... while the Danskin gradient right beside the kinks does not (ARPO zig-zags there)
    assert trap.gradient(trp + np.array([0, 1e-3]), "worst").norm() > 0.04
    # the mechanism: the trap is robustly worse and naturally much worse; the natural objective climbs away
    n = lambda w: float(trap.natural_return(torch.tensor(w)))  # noqa: E731
    w = lambda w: float(trap.worst_return(torch.tensor(w)))  # noqa: E731
    assert w(trp) < w(orp) and n(trp) < 0.55 * n(nat) and n(orp) > 0.9 * n(nat)
    assert trap.gradient(trp, "natural")[0, 1] > 0  # SPO's W2-gradient at the trap points back to risky


def test_dynamics_same_eps_schedule():
    """The documented starts, ARPO and BARPO under the same schedule. Constant eps: ARPO falls into the trap,
    the bilevel BARPO (KL inner objective + guidance) reaches its own fixed point beside the ORP; with the
    75% ramp ARPO escapes too (the warm-up, not the bilevel form, saves it there)."""
    starts = torch.tensor(trap.DOCUMENTED_STARTS, dtype=torch.float64)
    dist = lambda e, p: (e - torch.tensor(p, dtype=torch.float64)).norm(dim=1)  # noqa: E731
    assert torch.all(dist(trap.ascend(starts, "spo", steps=1500), trap.NATURAL_OPT) < 0.01)
    for sched in ("constant", "ramp"):
        barpo = trap.ascend(starts, "barpo", steps=1500, schedule=sched)
        assert torch.all(dist(barpo, trap.BARPO_POINT) < 0.01) and list(trap.outcome(barpo)) == ["other"] * 3
    assert torch.all(dist(trap.ascend(starts, "arpo", steps=1500, schedule="constant"), trap.TRAP) < 0.05)
    assert torch.all(dist(trap.ascend(starts, "arpo", steps=1500, schedule="ramp"), trap.ORP) < 0.1)
    with torch.no_grad():  # BARPO's point: almost the natural value of the ORP, a worst case between trap and ORP
        bp = torch.tensor(trap.BARPO_POINT, dtype=torch.float64)
        assert 2.55 < float(trap.natural_return(bp)) < 2.57 and 1.59 < float(trap.worst_return(bp)) < 1.62


def test_kl_inner_objective_and_its_gradient():
    """The KL adversary's perturbation maximizes |W.delta| over the box (dense search), and kl_gradient is the
    gradient of the mean over the four sign choices with delta held fixed (central differences)."""
    gen = torch.Generator().manual_seed(0)
    Ws = torch.rand(6, 2, generator=gen, dtype=torch.float64) * 4 - 2
    d = torch.linspace(-1, 1, 41, dtype=torch.float64)
    box = torch.stack(torch.meshgrid(d, d, indexing="ij"), -1).reshape(-1, 2) * trap.EPS
    for W in Ws:
        best = (box @ W).abs().max()
        assert abs(float((trap.EPS * trap.kl_vertices(W[None])[0] @ W).abs()) - float(best)) < 1e-12
        v = trap.kl_vertices(W[None])[0]

        def f(w):
            s = trap.EPS * float((w / trap.NORM) @ v)
            return float(sum(trap.shifted_return(w, u0 * s, u1 * s) for u0 in (-1, 1) for u1 in (-1, 1)) / 4)

        h = 1e-6
        fd = torch.tensor(
            [(f(W + h * e) - f(W - h * e)) / (2 * h) for e in torch.eye(2, dtype=torch.float64)], dtype=torch.float64
        )
        assert torch.allclose(trap.kl_gradient(W)[0], fd, atol=1e-6)


def test_trap_share_with_wilson_interval():
    """Constant eps, 60 random starts: ARPO is trapped from about a third (the paper's figure), the bilevel BARPO
    from none; the Wilson interval of the share is exact (scipy) and contains the 150-start share."""
    starts = trap.random_starts(60, seed=1)
    arpo = trap.outcome(trap.ascend(starts, "arpo", steps=1500, schedule="constant"))
    barpo = trap.outcome(trap.ascend(starts, "barpo", steps=1500, schedule="constant"))
    k = int((arpo == "trap").sum())
    lo, hi = trap.wilson(k, 60)
    assert 0.2 < k / 60 < 0.45 and lo < 47 / 150 < hi, (k, lo, hi)
    assert (barpo == "trap").sum() == 0
    assert np.allclose(trap.wilson(0, 10), (0.0, 0.2775), atol=1e-4)
