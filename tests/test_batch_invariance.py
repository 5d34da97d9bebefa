"""A point's numbers do not depend on what else is in its batch (README: Batch composition).

The same (theta, episode seed) gives bit-identical returns alone, in batches of several sizes and positions,
beside other thetas and with other numbers of episodes; natural and under every attack, the learned ones
(rs, optimal, paad) included: their networks run the row-wise forward and their random numbers are keyed
(rowwise.py, crn.py). Walker2d uses a policy whose falls are chaotic (benchmarks/batch_invariance.py: the old
float32 forward changed its returns by hundreds); its learned attackers are fresh (untrained) ones, Hopper's
the bundled SPO checkpoint's.
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.attacks import make_attack
from landscape.attacks.sarsa import QNet
from landscape.core import crn
from landscape.core.rowwise import MLP, Dense, exact_f32
from landscape.io import checkpoint
from landscape.model.flat import batched_mean
from landscape.rl.evaluator import BatchedEvaluator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from batch_invariance import walker_agent  # noqa: E402
from test_attacks import make_adversary  # noqa: E402

BUNDLED = "landscape/checkpoints/hopper_spo"
LEARNED = ("rs", "optimal", "paad")


def agents():
    return {"Walker2d-v5": walker_agent(), "Hopper-v5": checkpoint.load("landscape/checkpoints/hopper_spo.pt")}


def others(theta, n, seed=1):
    return theta * (1 + 0.01 * torch.randn(n, theta.shape[1], generator=torch.Generator().manual_seed(seed)))


def attack_of(name, agent, eps=None, restarts=1, **config):
    """A fresh attack `name` (no generator state carried over); a learned one with the bundled SPO Hopper's
    cached attacker, else an untrained one of the same shapes (config: the director's settings; by default
    a 3-step PGD actor, whose random start must be keyed)."""
    if name not in LEARNED:
        return make_attack(name, agent, eps)
    eps = 0.075 if eps is None else eps
    if name == "rs":
        torch.manual_seed(3)
        q = f"{BUNDLED}.rs.pt" if agent.env_id == "Hopper-v5" else QNet(agent.actor.obs_dim, agent.actor.act_dim)
        return make_attack(name, agent, eps, q=q, restarts=restarts)
    if agent.env_id == "Hopper-v5" and not config:
        return make_attack(name, agent, eps, adversary=f"{BUNDLED}.{name}-eps{eps:g}.pt")
    config = config or ({"actor_steps": 3} if name == "paad" else {})
    return make_attack(name, agent, eps, adversary=make_adversary(agent, eps, kind=name, **config))


@pytest.mark.parametrize("env_id", ["Walker2d-v5", "Hopper-v5"])
@pytest.mark.parametrize("attack", [None, "mad", *LEARNED])
def test_same_returns_alone_in_any_batch(env_id, attack):
    agent = agents()[env_id]
    theta = agent.space.flatten(agent.actor)[None]
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    steps = 150 if attack else 300

    def run(thetas, episodes, seed):
        att = attack_of(attack, agent, None if attack in LEARNED else 0.05) if attack else None
        return ev.run(thetas, episodes, seed=seed, attack=att, max_steps=steps).returns

    alone = np.array([run(theta, 1, s)[0, 0] for s in range(3)])
    got = {
        "episodes 3": run(theta, 3, 0)[0],
        "2nd of 3 thetas": run(torch.cat([others(theta, 1), theta, others(theta, 1, 2)]), 3, 0)[1],
        "last of 5 thetas": run(torch.cat([others(theta, 4), theta]), 3, 0)[4],
        "episodes 4 from seed 1": run(theta, 4, 1)[0, :2],
    }
    ev.close()
    for label, returns in got.items():
        want = alone[1:] if label.startswith("episodes 4") else alone
        assert np.array_equal(returns, want), (label, returns, want)


@pytest.mark.parametrize("attack", ["random", "critic", "surrogate"])
def test_other_attacks_hopper(attack):
    agent = agents()["Hopper-v5"]
    theta = agent.space.flatten(agent.actor)[None]
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    alone = [ev.run(theta, 1, seed=s, attack=make_attack(attack, agent), max_steps=100).returns[0, 0] for s in (0, 1)]
    mixed = ev.run(
        torch.cat([others(theta, 1), theta]), 2, seed=0, attack=make_attack(attack, agent), max_steps=100
    ).returns[1]
    ev.close()
    assert np.array_equal(mixed, alone)


def test_walker_policy_is_chaotic():
    """Without the invariance the Walker test above would fail: the old forward (float32 batched matmul)
    changes this policy's return alone vs batched."""
    from batch_invariance import old_forward

    agent = walker_agent()
    theta = agent.space.flatten(agent.actor)[None]
    ev = BatchedEvaluator(agent.env_id, agent.space, agent.obs_norm)
    with old_forward():
        batched = ev.run(torch.cat([others(theta, 4), theta]), 3, seed=0, max_steps=300).returns[4]
        alone = np.array([ev.run(theta, 1, seed=s, max_steps=300).returns[0, 0] for s in range(3)])
    ev.close()
    assert not np.array_equal(batched, alone)


def test_rows_are_exactly_rounded_and_batch_invariant():
    """Every output is the exact dot product rounded once to float32: the same in any batch, and equal to
    math.fsum of the terms; also for zero rows, huge and tiny values, and inputs near rounding boundaries."""
    g = torch.Generator().manual_seed(0)
    for n, m in [(17, 64), (64, 6), (3, 5), (300, 2)]:
        w, b = torch.randn(4, m, n, generator=g) / n**0.5, torch.randn(4, m, generator=g)
        x = torch.randn(4, 9, n, generator=g)
        x[0, 0] = 0
        x[1, 1] *= 1e30
        x[2, 2] *= 1e-30
        x[3, 3, 1:] = 0  # a single term: exact in float32 already
        full = Dense(w, b)(x)
        for k in range(4):
            for r in range(9):
                one = Dense(w[k : k + 1].clone(), b[k : k + 1].clone())(x[k : k + 1, r : r + 1].clone())
                assert torch.equal(one[0, 0], full[k, r])
                want = [
                    exact_f32([a * c for a, c in zip(x[k, r].tolist(), w[k, o].tolist())] + [float(b[k, o])])
                    for o in range(m)
                ]
                assert full[k, r].tolist() == want
        shared = Dense(w[0], b[0])
        assert torch.equal(shared(x.reshape(-1, n)).reshape(4, 9, m), torch.stack([shared(x[i]) for i in range(4)]))


def test_exact_f32_rounds_once():
    """Double rounding: 1 + 2^-24 + 2^-60 is just above a float32 midpoint; rounding to float64 first lands
    on the midpoint and then to even (1.0); rounded once it is the upper neighbour."""
    assert exact_f32([1.0, 2.0**-24, 2.0**-60]) == 1.0 + 2.0**-23
    assert exact_f32([1.0, 2.0**-24]) == 1.0  # a true tie: to even
    assert exact_f32([1.0, 2.0**-24, -(2.0**-60)]) == 1.0
    assert math.isinf(exact_f32([3e38, 3e38]))


def test_exact_forward_matches_the_network_and_its_gradient_is_rowwise():
    agent = checkpoint.load("landscape/checkpoints/hopper_spo.pt")
    space, theta = agent.space, agent.space.flatten(agent.actor)[None]
    z = torch.randn(1, 6, 11, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = agent.actor(z)
    assert (batched_mean(space, theta, z) - ref).abs().max() < 1e-5
    assert (batched_mean(space, theta, z, exact=False) - ref).abs().max() < 1e-5

    # autograd in z (the attacks' autograd path) agrees with the closed form, and each row's is its own
    def grad(zz):
        zz = zz.clone().requires_grad_(True)
        return torch.autograd.grad(batched_mean(space, theta, zz).sum(), zz)[0]

    g = grad(z)
    net = MLP([(m.weight, m.bias) for m in agent.actor.net if isinstance(m, torch.nn.Linear)])
    _, hidden = net.forward(z[0])
    assert (g[0] - net.input_grad(hidden, torch.ones(6, 3))).abs().max() < 1e-5
    for r in range(6):
        assert torch.equal(grad(z[:, r : r + 1]), g[:, r : r + 1])
        _, h1 = net.forward(z[0, r : r + 1].clone())
        assert torch.equal(net.input_grad(h1, torch.ones(1, 3)), net.input_grad(hidden, torch.ones(6, 3))[r : r + 1])
    # parameter gradients (policy-gradient probes) still flow
    th = theta.clone().requires_grad_(True)
    (gt,) = torch.autograd.grad(batched_mean(space, th, z).sum(), th)
    assert gt.abs().sum() > 0


def test_keyed_draws_depend_on_episode_and_step_only():
    a = crn.uniform(crn.Keys(np.arange(4), 7), 0, 1, (3, 5))
    b = crn.uniform(crn.Keys(np.array([2]), 7), 0, 1, (3, 5))
    assert torch.equal(a[2], b[0])
    assert not torch.equal(a[2], crn.uniform(crn.Keys(np.array([2]), 8), 0, 1, (3, 5))[0])
    assert not torch.equal(a[2], crn.uniform(crn.Keys(np.array([2]), 7), 1, 1, (3, 5))[0])
    u = crn.uniform(crn.Keys(np.arange(100), 0), 0, 0, (1000,))
    assert 0 <= float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.01
    n = crn.normal(crn.Keys(np.arange(100), 0), 0, 0, (1000,))
    assert abs(float(n.mean())) < 0.02 and abs(float(n.std()) - 1) < 0.02


@pytest.mark.parametrize(
    "name,config",
    [
        ("rs", {"restarts": 2}),
        ("optimal", {}),
        ("paad", {"actor_steps": 1}),
        ("paad", {"actor_steps": 3}),
        ("paad", {"actor": "paad-reference", "start_steps": 10}),
    ],
)
def test_learned_attack_call_is_rowwise(name, config):
    """One attack call on K x E rows gives each row what it gives alone (with that row's episode key): the
    attacker's network outputs (Q, adversary / director action), the perturbation, and so its gradients and
    random starts (PGD with restarts, PA-AD's PGD actor and its released actor with a uniform start)."""
    agent = walker_agent()
    theta = agent.space.flatten(agent.actor)[None]
    thetas = torch.cat([theta, others(theta, 2)])
    z = torch.randn(3, 7, 17, generator=torch.Generator().manual_seed(5))
    episodes = np.arange(10, 17)
    attack = attack_of(name, agent, **config)

    def call(k, e):
        attack.keys = crn.Keys(episodes[e], 4)
        zz, th = z[k, e].clone(), thetas[k].clone()  # fresh tensors: no cache of the full batch's network
        z_adv = attack(zz, th)
        net = attack.objective(z_adv, zz, th) if name == "rs" else attack.mean_action(zz)
        return z_adv, net

    full, net = call(slice(None), slice(None))
    assert not torch.equal(full, z)
    for k in range(3):
        for e in range(7):
            one, one_net = call(slice(k, k + 1), slice(e, e + 1))
            assert torch.equal(one[0, 0], full[k, e]) and torch.equal(one_net[0, 0], net[k, e])
