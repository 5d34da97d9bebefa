"""The time-limit baseline of the gradient estimate (probes/gradients.py `horizon`): unbiased, lower variance
where the reward-to-go depends on the time left and the critic cannot see the clock."""

import numpy as np
import torch

from landscape.probes.gradients import horizon_baseline, per_episode_gradients, squared_norm, time_limit
from landscape.sim.toys import target, trap


def _clockless(z: torch.Tensor) -> torch.Tensor:
    """A critic that sees no clock (as Hopper's): one value for every observation."""
    return torch.zeros(z.shape[:-1])


def _u_over_seeds(mod, theta, mask, horizon, repeats: int = 300, episodes: int = 16, seed: int = 0) -> np.ndarray:
    """U of ||grad||^2 at one point, `repeats` independent batches of `episodes` (gamma = lam = 1)."""
    space, rng = mod.make_agent().space, np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        tr = mod.sample_trajectories(theta[None], episodes, rng)
        g = per_episode_gradients(space, theta[None], tr, episodes, 1.0, 1.0, critic=_clockless, horizon=horizon)
        out.append(squared_norm(g[..., mask])[0][0])
    return np.array(out)


def test_baseline_leaves_each_episode_out_and_nests_the_old_fit():
    rng = np.random.default_rng(0)
    T, K, E = 6, 2, 5
    values, live = rng.normal(size=(T, K * E)), np.ones((T, K * E))
    rewards = rng.normal(size=(T, K * E))
    b = horizon_baseline(values, rewards, live, 0.9, T, E)
    changed = rewards.copy()
    changed[:, [3, E + 3]] += 5.0  # episode 3 at both points (they share its start state and noise)
    b2 = horizon_baseline(values, changed, live, 0.9, T, E)
    assert np.allclose(b2[:, [3, E + 3]], b[:, [3, E + 3]]) and not np.allclose(b2, b)
    # a reward-to-go that is a V + c exactly: every episode's fit reproduces it (the old baseline is nested)
    rtg = 2.0 * values + 1.0
    r = rtg - 0.9 * np.concatenate([rtg[1:], np.zeros((1, K * E))])  # rewards whose reward-to-go is rtg
    assert np.allclose(horizon_baseline(values, r, live, 0.9, T, E), rtg)


def test_time_limits():
    assert time_limit("Hopper-v5") == 1000 and time_limit("ToyTrap-v0") == 2 and time_limit("ToyTarget-v0") is None


def test_unbiased_on_the_toys():
    """Mean of U over 300 seeds within 4 SE of the exact ||grad J||^2, at points with large, small and zero
    gradients (ToyTarget: all four parameters; ToyTrap: the two moving weights)."""
    w0, b0 = target.optimum()
    th = target.to_theta(w0, b0 + 2.0)
    exact = (target.exact_gradient(th[1:3].double().numpy(), float(th[3]), float(th[0])) ** 2).sum()
    cases = [(target, th, torch.ones(4, dtype=torch.bool), target.H, exact)]
    W = torch.tensor([trap.NATURAL_OPT, (0.6, 1.25)], dtype=torch.float64)
    for w, g in zip(W, trap.gradient(W)):
        cases.append((trap, trap.to_theta(w[None])[0], torch.tensor([False, True, True, False]), 2, float(g @ g)))
    for i, (mod, theta, mask, horizon, exact) in enumerate(cases):
        U = _u_over_seeds(mod, theta, mask, horizon, seed=i)
        assert abs(U.mean() - exact) < 4 * U.std() / np.sqrt(len(U)), (mod.__name__, U.mean(), exact)


def test_lower_variance_when_the_reward_to_go_depends_on_the_time_left():
    """ToyTarget far from its optimum: each step's reward is large and negative, so the reward-to-go shrinks
    with the steps left; a clockless critic's a V + c cannot follow it, the time-limit baseline can. Same
    episodes for both estimators; the variance of U over seeds must drop by more than 1.5x (about 2.5x)."""
    w0, b0 = target.optimum()
    th = target.to_theta(w0, b0 + 2.0)
    space, rng = target.make_agent().space, np.random.default_rng(5)
    U = {None: [], target.H: []}
    for _ in range(300):
        tr = target.sample_trajectories(th[None], 16, rng)
        for h in U:
            g = per_episode_gradients(space, th[None], tr, 16, 1.0, 1.0, critic=_clockless, horizon=h)
            U[h].append(squared_norm(g)[0][0])
    assert np.var(U[None]) > 1.5 * np.var(U[target.H])
