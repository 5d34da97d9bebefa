import numpy as np

from landscape.core.normalizer import RunningNorm


def test_single_row_updates_hand_computed():
    a, b, c = np.array([1.0, -2.0]), np.array([3.0, 2.0]), np.array([5.0, 0.0])
    norm = RunningNorm(2)
    for row in (a, b, c):
        norm.update(row[None])
    assert norm.count == 3
    assert np.allclose(norm.mean, [3.0, 0.0], rtol=0, atol=1e-15)
    assert np.allclose(norm.var, [8 / 3, 8 / 3], rtol=0, atol=1e-15)  # population variance


def test_single_row_path_equals_reduction_path_exactly():
    """The per-step fast path must give bit-identical statistics to mean/var of a one-row batch."""
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(200, 5))
    fast, slow = RunningNorm(5), RunningNorm(5)
    for row in x:
        fast.update(row[None])
        # reference: the general formula with the batch reductions a one-row batch would take
        b_mean, b_var = row[None].mean(0), row[None].var(0)
        if slow.count == 0:
            slow.mean, slow.var, slow.count = b_mean, b_var, 1.0
            continue
        total = slow.count + 1
        delta = b_mean - slow.mean
        m2 = slow.var * slow.count + b_var * 1 + delta**2 * slow.count * 1 / total
        slow.mean, slow.var, slow.count = slow.mean + delta * 1 / total, m2 / total, total
    assert np.array_equal(fast.mean, slow.mean) and np.array_equal(fast.var, slow.var)
    assert np.allclose(fast.mean, x.mean(0)) and np.allclose(fast.var, x.var(0))


def test_update_does_not_alias_the_callers_array():
    obs = np.array([[1.0, 2.0]])
    norm = RunningNorm(2)
    norm.update(obs)  # first update takes the row as the mean
    obs[0] = 100.0  # vector envs reuse their observation buffer
    assert np.array_equal(norm.mean, [1.0, 2.0])


def test_frozen_and_empty_updates_change_nothing():
    norm = RunningNorm(3)
    norm.update(np.ones((4, 3)))
    norm.update(np.zeros((0, 3)))
    norm.frozen = True
    norm.update(np.full((1, 3), 7.0))
    assert norm.count == 4 and np.array_equal(norm.mean, np.ones(3))
