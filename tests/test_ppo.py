import numpy as np
import pytest
import torch

from landscape.normalizer import RunningNorm
from landscape.ppo import gae


def test_gae_hand_computed():
    # one env, 3 steps, episode ends after step 1 (index 1); gamma=0.5, lambda=0.5
    r = np.array([[1.0], [2.0], [3.0]])
    v = np.array([[0.5], [1.0], [2.0]])
    last = np.array([4.0])
    d = np.array([[0.0], [1.0], [0.0]])
    adv, ret = gae(r, v, last, d, gamma=0.5, lam=0.5)
    d2 = 3 + 0.5 * 4 - 2  # = 3
    d1 = 2 - 1.0  # terminal: no bootstrap
    d0 = 1 + 0.5 * 1.0 - 0.5  # = 1
    a1 = d1
    a0 = d0 + 0.25 * a1
    assert adv[:, 0] == pytest.approx([a0, a1, d2])
    assert ret[:, 0] == pytest.approx([a0 + 0.5, a1 + 1.0, d2 + 2.0])


def test_running_norm_merge_equals_full_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(1000, 4))
    norm = RunningNorm(4)
    for chunk in np.array_split(x, [1, 7, 300, 301]):
        norm.update(chunk)
    assert np.allclose(norm.mean, x.mean(0)) and np.allclose(norm.var, x.var(0))
    z = norm(x)
    assert np.allclose(z, np.clip((x - x.mean(0)) / (x.std(0) + 1e-8), -10, 10))


def test_clip_grad_norm_is_torchs_arithmetic_exactly():
    from landscape.policy import Actor
    from landscape.ppo import clip_grad_norm

    torch.manual_seed(0)
    a, b = Actor(11, 3), Actor(11, 3)
    b.load_state_dict(a.state_dict())
    for limit in (0.5, 1e6, float("inf")):
        for pa, pb in zip(a.parameters(), b.parameters()):
            pa.grad = torch.randn_like(pa)
            pb.grad = pa.grad.clone()
        n1 = clip_grad_norm(a.parameters(), limit)
        n2 = torch.nn.utils.clip_grad_norm_(b.parameters(), limit)
        assert torch.equal(n1, n2)
        assert all(torch.equal(pa.grad, pb.grad) for pa, pb in zip(a.parameters(), b.parameters()))
