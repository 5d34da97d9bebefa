"""The numerics core against hand computations, and against the torch code it replaced (bit for bit)."""

import math

import numpy as np
import pytest
import torch

from landscape.core.numerics import advantages, clipped_surrogate, gaussian_log_prob, mean_se, rewards_to_go


def test_gaussian_log_prob_hand_computed():
    # N(1.5; 0.5, 2^2) x N(0; 0, 1): -0.5 (1/2)^2 - log 2 - log sqrt(2 pi), then -log sqrt(2 pi)
    lp = gaussian_log_prob(
        torch.tensor([0.5, 0.0], dtype=torch.float64),
        torch.tensor([math.log(2.0), 0.0], dtype=torch.float64),
        torch.tensor([1.5, 0.0], dtype=torch.float64),
    )
    assert float(lp) == pytest.approx(-0.125 - math.log(2.0) - math.log(2 * math.pi), abs=1e-12)


def test_gaussian_log_prob_is_torch_normal_to_the_bit_value_and_gradient():
    """The training path used torch.distributions.Normal: the same numbers, so training is unchanged."""
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(3, 50, 4, generator=g, requires_grad=True)
    log_std = (0.3 * torch.randn(3, 1, 4, generator=g)).requires_grad_(True)
    actions = torch.randn(50, 4, generator=g)
    ours = gaussian_log_prob(mean, log_std, actions)
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(actions).sum(-1)
    assert torch.equal(ours, ref)
    w = torch.randn(3, 50, generator=g)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            torch.autograd.grad((ours * w).sum(), (mean, log_std)),
            torch.autograd.grad((ref * w).sum(), (mean, log_std)),
        )
    )


def test_clipped_surrogate_hand_computed():
    ratio = torch.tensor([1.5, 1.5, 0.5, 0.5, 1.1])
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0, 2.0])
    s = clipped_surrogate(torch.log(ratio), torch.zeros(5), adv, clip=0.2)
    # r A vs clip(r) A, the smaller: 1.2 (clipped), -1.5, 0.5, -0.8 (clipped), 2.2 (inside the clip)
    assert torch.allclose(s, torch.tensor([1.2, -1.5, 0.5, -0.8, 2.2]), atol=1e-6)


def test_gae_hand_computed():
    # one env, 3 steps, episode ends after step 1 (index 1); gamma=0.5, lambda=0.5
    r = np.array([[1.0], [2.0], [3.0]])
    v = np.array([[0.5], [1.0], [2.0]])
    d = np.array([[0.0], [1.0], [0.0]])
    adv, ret = advantages(r, v, d, gamma=0.5, lam=0.5, same_scale=True, last_values=np.array([4.0]))
    d2 = 3 + 0.5 * 4 - 2  # = 3
    d1 = 2 - 1.0  # terminal: no bootstrap
    d0 = 1 + 0.5 * 1.0 - 0.5  # = 1
    a1 = d1
    a0 = d0 + 0.25 * a1
    assert adv[:, 0] == pytest.approx([a0, a1, d2])
    assert ret[:, 0] == pytest.approx([a0 + 0.5, a1 + 1.0, d2 + 2.0])


def test_rewards_to_go_hand_computed():
    r = np.array([[1.0], [2.0], [3.0], [9.0]])
    live = np.array([[1.0], [1.0], [1.0], [0.0]])  # the episode ended after step 2; step 3 is padding
    assert rewards_to_go(r, live, 0.5)[:, 0] == pytest.approx([1 + 0.5 * 3.5, 2 + 0.5 * 3, 3, 0])


def test_raw_rewards_against_a_scaled_critic_are_refitted_to_the_reward_scale():
    """A critic trained on scaled rewards (values = (G - 5) / 100 for the true reward-to-go G) is a perfect
    baseline once refitted: with lam = 1 the advantages G - b vanish. Taken at face value (same_scale=True,
    the old wrong path) it is no baseline at all: the advantages are G - v, about G."""
    r = np.array([[1.0], [2.0], [3.0], [0.0]])
    live = np.array([[1.0], [1.0], [1.0], [0.0]])
    ends = np.array([[0.0], [0.0], [1.0], [0.0]])
    G = np.array([[2.75], [3.5], [3.0], [0.0]])  # 1 + 0.5 (2 + 0.5 3), 2 + 0.5 3, 3
    v = (G - 5.0) / 100.0
    adv, _ = advantages(r, v, ends, 0.5, 1.0, same_scale=False, live=live)
    assert np.abs(adv).max() < 1e-12
    wrong, _ = advantages(r, v, ends, 0.5, 1.0, same_scale=True, live=live)
    assert wrong[:3, 0] == pytest.approx((G - v)[:3, 0])


def test_mean_se_hand_computed():
    m, se = mean_se(np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]]))
    assert m == pytest.approx([2.5, 2.0]) and se == pytest.approx([math.sqrt(5 / 3) / 2, 0.0])
    m1, se1 = mean_se(np.array([[7.0]]))
    assert m1[0] == 7.0 and np.isnan(se1[0])
