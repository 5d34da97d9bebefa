import numpy as np
import torch
from scipy.optimize import minimize

from landscape.evaluator import BatchedEvaluator
from landscape.toys import trap


def _maximize(f, start):
    r = minimize(lambda w: -float(f(torch.tensor(w))), np.array(start, float), method="Nelder-Mead",
                 options=dict(xatol=1e-10, fatol=1e-14, maxiter=5000))
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
    Ws = (torch.rand(20, 2, generator=gen, dtype=torch.float64) * 4 - 2)
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


def test_dynamics_arpo_trapped_spo_barpo_not():
    starts = torch.tensor(trap.DOCUMENTED_STARTS, dtype=torch.float64)
    ends = {a: trap.ascend(starts, a, steps=1500) for a in ("spo", "arpo", "barpo")}
    dist = lambda e, p: (e - torch.tensor(p, dtype=torch.float64)).norm(dim=1)  # noqa: E731
    assert torch.all(dist(ends["arpo"], trap.TRAP) < 0.05)
    assert torch.all(dist(ends["spo"], trap.NATURAL_OPT) < 0.01)
    assert torch.all(dist(ends["barpo"], trap.ORP) < 0.1)  # within one zig-zag of the kink


def test_about_a_third_of_random_starts_are_trapped():
    starts = trap.random_starts(60, seed=1)
    arpo = trap.ascend(starts, "arpo", steps=1500)
    barpo = trap.ascend(starts, "barpo", steps=1500)
    share = float((arpo - torch.tensor(trap.TRAP, dtype=torch.float64)).norm(dim=1).lt(0.05).double().mean())
    assert 0.2 < share < 0.45, share
    assert (barpo - torch.tensor(trap.ORP, dtype=torch.float64)).norm(dim=1).lt(0.1).all()
