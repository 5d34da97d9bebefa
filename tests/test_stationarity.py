"""The stationarity verdict (landscape/stationary/stationarity.py) against exact gradients on the toys."""

import numpy as np
import torch

from landscape.probes.gradients import gradient_norm, per_episode_gradients, squared_norm
from landscape.sim.toys import target, trap
from landscape.stationary.stationarity import (
    NOT_STATIONARY,
    STATIONARY,
    UNRESOLVED,
    Blocks,
    looks,
    sequential_test,
    summary,
    verdict,
)


def test_u_statistic_unbiased_and_se_never_zero_when_clamped():
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(200, 16, 5, generator=gen, dtype=torch.float64)  # true gradient 0
    U, se = squared_norm(g)
    assert abs(U.mean()) < 3 * U.std() / np.sqrt(200)  # unbiased for ||0||^2 = 0 (naive ||mean||^2 is 5/16)
    assert (U < 0).any() and np.all(se > 0)
    norm, norm_se = gradient_norm(g)
    assert np.all(norm[U < 0] == 0) and np.all(norm_se > 0)  # the clamp no longer gives SE 0
    s = summary(g, 0.5, 2.0)
    assert all(p["upper"] > 0 for p in s)


def test_verdict_three_values_and_no_stationary_without_se():
    U = np.array([0.01, 4.0, 1.0, 0.0, 0.0])
    se = np.array([0.01, 0.1, 1.0, 0.0, np.nan])
    v = verdict(U, se, se, 1.0, 1.96)
    assert list(v) == [STATIONARY, NOT_STATIONARY, UNRESOLVED, UNRESOLVED, UNRESOLVED]
    assert list(verdict([0.0, 4.0], 0.0, 0.0, 1.0, 1.96, exact=True)) == [STATIONARY, NOT_STATIONARY]


def test_looks_and_blocks():
    assert looks(16, 100) == [16, 32, 64, 100]
    agent = target.make_agent()
    b = Blocks.of(agent.space, torch.tensor([False, True, True, True]))
    assert b.names == ["layer0"] and b.index[0].tolist() == [0, 1, 2]
    b = Blocks.of(trap.make_agent().space)
    assert b.names == ["log_std", "layer0"]


def _repeat(mod, th, mask, tau, repeats, budget, seed):
    space = mod.make_agent().space
    thetas = th.repeat(repeats, 1)
    rng = np.random.default_rng(seed)

    def sample(idx, n, look):
        tr = mod.sample_trajectories(thetas[idx], n, rng)
        g, gs = per_episode_gradients(space, thetas[idx], tr, n, gamma=1.0, lam=1.0, scaled=True)
        return {"raw": g[..., mask], "scaled": gs[..., mask]}

    res = sequential_test(sample, len(thetas), tau, start=16, budget=budget, alpha=0.05, blocks=Blocks.of(space, mask))
    return res, np.array([r["verdict"] for r in res]).reshape(repeats, -1)


def test_sequential_test_error_rates_on_toytarget():
    """Exact |grad| in (w, b) = 0, tau/2 (stationary) and 2 tau (not stationary); 40 repeats each with fresh
    episodes. Stated error rate: <= 5% per side. Observed wrong verdicts must stay within the binomial
    99.9% bound for 5% of 40 (<= 7), and the clear cases must be decided (power)."""
    w0, b0 = target.optimum()
    tau, norms = 2.0, np.array([0.0, 1.0, 4.0])
    th = target.to_theta(np.tile(w0, (3, 1)), b0 + norms / (2 * np.sqrt(16 + 1 + 6.25)))
    exact = [np.linalg.norm(target.exact_gradient(t[1:3].double().numpy(), float(t[3]), float(t[0]))[1:]) for t in th]
    assert np.allclose(exact, norms, atol=1e-5)
    res, v = _repeat(target, th, torch.tensor([False, True, True, True]), tau, 40, 1024, seed=0)
    assert (v[:, :2] == NOT_STATIONARY).sum() <= 7 and (v[:, 2] == STATIONARY).sum() <= 7
    assert (v[:, 0] == STATIONARY).mean() > 0.8 and (v[:, 2] == NOT_STATIONARY).mean() > 0.8
    for r in res:  # every decided point had a positive SE; the report carries power and episodes used
        assert r["raw"]["U_se"] > 0 and r["raw"]["test_se"] > 0 and r["episodes"] >= 16
        assert r["raw"]["min_detectable_norm"] > tau and "layer0" in r["raw"]["blocks"]
    # the scale-free gradient: with one action dim and a state-independent std it is exactly sigma x raw
    # on the mean parameters -- here sigma = 0.5, so its norm estimate is half the raw one
    r = res[2]
    assert abs(r["scaled"]["U"] - 0.25 * r["raw"]["U"]) < 1e-6 * abs(r["raw"]["U"]) + 1e-9


def test_sequential_test_on_trap_natural_optimum():
    """ToyTrap's natural optimum (exact gradient 0) is certified stationary at tau = 0.5; a point with exact
    |grad| = 1 is certified not stationary; 20 repeats each, no wrong verdict allowed beyond 3."""
    W = torch.tensor([trap.NATURAL_OPT, (0.6, 1.25)], dtype=torch.float64)
    exact = trap.gradient(W).norm(dim=1).numpy()
    assert exact[0] < 1e-3 and exact[1] > 1.0
    _, v = _repeat(trap, trap.to_theta(W), torch.tensor([False, True, True, False]), 0.5, 20, 4096, seed=1)
    assert (v[:, 0] == NOT_STATIONARY).sum() <= 3 and (v[:, 1] == STATIONARY).sum() <= 3
    assert (v[:, 0] == STATIONARY).mean() > 0.7 and (v[:, 1] == NOT_STATIONARY).mean() > 0.9


def test_stored_norm_and_display_se_give_back_u_and_its_se():
    """Scan stores keep the norm and its display SE (gradients.norm_se); from_norm inverts that exactly, so
    the grid screens apply the same bounds as the sequential test."""
    from landscape.probes.gradients import norm_se
    from landscape.stationary.stationarity import from_norm

    rng = np.random.default_rng(0)
    U = np.concatenate([rng.uniform(-1, 4, 500), [0.0, 1.0]])
    s = np.concatenate([rng.uniform(1e-3, 3, 500), [0.5, 1.0]])  # both branches: clamped and not
    U2, s2 = from_norm(*norm_se(U, s))
    assert np.allclose(s2, s, rtol=1e-6, atol=1e-9) and np.allclose(U2, np.maximum(U, 0))
    assert (verdict(U2, s2, s2, 1.0, 1.64) == verdict(U, s, s, 1.0, 1.64)).all()


def test_one_rule_for_every_grid_screen():
    """The compare page marks exactly the cells render calls stationary (it used ||g|| < 2 se, which marks
    any noisy cell and ignores the threshold)."""
    from landscape.compare import page_data
    from landscape.stationary.stationarity import grid_verdicts

    x = np.linspace(-1, 1, 5)
    g = np.abs(x)[:, None] + np.abs(x)[None, :]
    se = np.full_like(g, 0.05)
    se[0, 0] = 3.0  # |g| 2 +- 3: "< 2 se", but nothing is known
    surf = {"done": np.ones((5, 5), bool), "coords_0": x, "coords_1": x}
    for m in ("natural", "adversarial", "grad_natural", "grad_adversarial", "gap"):
        surf[m], surf[f"{m}_se"] = g, se
    meta = {
        "attack": {"name": "mad", "eps": 0.1},
        "directions": [{"label": "a"}, {"label": "b"}],
        "env_id": "x",
        "ckpts": [],
        "episodes": 1,
        "grad_episodes": 3,
        "seed": 0,
        "version": "0",
    }
    page = page_data({"meta": meta, "surface": surf, "store": "s"}, [])
    mask = grid_verdicts(g, se) == STATIONARY
    assert mask.sum() == 1 and mask[2, 2]
    cells = page["verdicts"]["spo"]
    assert cells["stationary"] == {"x": [0.0], "y": [0.0]}
    assert len(cells["unresolved"]["x"]) >= 1 and -1.0 in cells["unresolved"]["x"]  # |g| 2 +- 3 is unresolved
    assert sum(len(c["x"]) for c in cells.values()) == 25  # every computed cell has exactly one verdict
