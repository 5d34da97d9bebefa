import numpy as np
import torch

from landscape.probes.curvature import extreme_eigenvalues, hvp_fn, lanczos, power_iteration, surrogate_function
from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.toys import trap


def test_toy_hessian_eigenvalues_match_exact():
    for W, obj in [
        (trap.NATURAL_OPT, "natural"),
        ((0.2, 0.7), "natural"),
        ((-0.5, 1.0), "natural"),
        ((0.5, 1.2), "worst"),
    ]:
        W = torch.tensor(W, dtype=torch.float64)
        exact = np.linalg.eigvalsh(trap.hessian(W, obj).numpy())
        f = trap.natural_return if obj == "natural" else (lambda w: trap.worst_return(w))
        est = extreme_eigenvalues(hvp_fn(f, W), 2, k=2)
        assert np.allclose(sorted(est["smallest"]), exact, atol=1e-10), (est, exact)
    # the natural optimum is a strict maximum: both eigenvalues negative
    assert np.all(np.linalg.eigvalsh(trap.hessian(torch.tensor(trap.NATURAL_OPT, dtype=torch.float64)).numpy()) < 0)


def test_lanczos_finds_both_ends_power_iteration_only_the_largest_modulus():
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(60, 60, generator=gen, dtype=torch.float64))
    eig = torch.cat([torch.tensor([-5.0, -3.0, 2.0, 1.5]), torch.linspace(-1, 1, 56, dtype=torch.float64)])
    H = Q @ torch.diag(eig) @ Q.T
    hvp = lambda v: H @ v  # noqa: E731
    ritz = lanczos(hvp, 60, iters=40)
    assert abs(ritz[0] + 5) < 1e-6 and abs(ritz[1] + 3) < 1e-4 and abs(ritz[-1] - 2) < 1e-6
    assert abs(power_iteration(hvp, 60, iters=300) + 5) < 1e-3  # largest |eigenvalue| is the negative one
    assert abs(power_iteration(hvp, 60, iters=2000, shift=-5.0) - 2) < 1e-2  # shifted: the other end


def test_lanczos_on_hvps_matches_autograd_on_a_function_of_300_parameters():
    """f = theta' H theta / 2 + c sum theta^3 with H of known spectrum (outliers -5, -3, 2.5, 4 over a bulk in
    [-1, 1]); at theta the Hessian is H + 6 c diag(theta). 30 Lanczos steps on double-backward HVPs find both
    ends of the spectrum of autograd's full Hessian (and of the closed form) -- with 300 parameters and 30
    iterations the Krylov space is a tenth of the space, so a wrong HVP or Lanczos step would show."""
    P, c = 300, 0.01
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(P, P, generator=gen, dtype=torch.float64))
    eig = torch.cat(
        [torch.tensor([-5.0, -3.0, 2.5, 4.0], dtype=torch.float64), torch.linspace(-1, 1, P - 4, dtype=torch.float64)]
    )
    H = Q @ torch.diag(eig) @ Q.T
    theta = torch.randn(P, generator=gen, dtype=torch.float64)
    f = lambda t: 0.5 * t @ H @ t + c * (t**3).sum()  # noqa: E731
    full = torch.autograd.functional.hessian(f, theta)
    assert torch.allclose(full, H + torch.diag(6 * c * theta), atol=1e-12)
    exact = np.linalg.eigvalsh(full.numpy())
    est = extreme_eigenvalues(hvp_fn(f, theta), P, k=2, iters=30)
    assert est["iters"] == 30
    assert np.allclose(est["smallest"], exact[:2], atol=1e-6) and np.allclose(
        est["largest"], exact[::-1][:2], atol=1e-6
    )


def test_surrogate_hessian_by_hvp_matches_autograd():
    agent = trap.make_agent((0.5, 1.0))
    ev = BatchedEvaluator("ToyTrap-v0", agent.space, agent.obs_norm)
    f = surrogate_function(agent, ev, episodes=64, seed=0)
    ev.close()
    theta = agent.space.flatten(agent.actor).double()
    H = torch.autograd.functional.hessian(f, theta)
    exact = np.linalg.eigvalsh(H.numpy())
    est = extreme_eigenvalues(hvp_fn(f, theta), 4, k=4)
    assert np.allclose(est["smallest"], exact, atol=1e-4)


def test_surrogate_advantages_use_the_one_advantage_path_and_ignore_the_critic_scale():
    """The surrogate (and hence its Hessian) gets its advantages from gradients.advantages: a critic trained on
    scaled rewards (here 100 V + 5) gives exactly the same advantages as V, because the scale is fitted once."""
    import copy

    from landscape.probes.gradients import advantages
    from landscape.probes.metrics import SurrogateBatch

    agent = trap.make_agent((0.5, 1.0))
    scaled = copy.deepcopy(agent)
    base = scaled.critic
    scaled.critic = lambda z: 100.0 * base(z) + 5.0
    ev = BatchedEvaluator("ToyTrap-v0", agent.space, agent.obs_norm)
    a1 = SurrogateBatch(agent, ev, 64, seed=3).adv
    a2 = SurrogateBatch(scaled, ev, 64, seed=3).adv
    roll = ev.run(agent.space.flatten(agent.actor)[None], 64, seed=3, deterministic=False, record=True)
    ev.close()
    assert torch.allclose(a1, a2, atol=1e-4)
    adv, live, _ = advantages(roll.trajectories, 1, 64, 0.99, 0.95, agent.critic)
    a = adv[live.astype(bool)]
    assert torch.allclose(a1, torch.as_tensor((a - a.mean()) / (a.std() + 1e-8), dtype=torch.float32), atol=1e-5)
