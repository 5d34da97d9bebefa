"""analyses/study/open_loop.py's bound on how far any observation can move an action (the Ant robust runs' evidence)."""

import importlib.util
from pathlib import Path

import torch

from landscape.model.policy import Actor

spec = importlib.util.spec_from_file_location(
    "open_loop", Path(__file__).resolve().parents[1] / "analyses/study/open_loop.py"
)
open_loop = importlib.util.module_from_spec(spec)
spec.loader.exec_module(open_loop)


def saturating_actor(obs_dim: int = 70, hidden: int = 64) -> Actor:
    """Hidden layers that copy the signs of the observation's first units, so every tanh unit can reach +-1 freely."""
    actor = Actor(obs_dim, 3, hidden=(hidden, hidden))
    with torch.no_grad():
        actor.net[0].weight.zero_()
        actor.net[0].weight[:, :hidden] = 50 * torch.eye(hidden)
        actor.net[2].weight.copy_(50 * torch.eye(hidden))
        actor.net[0].bias.zero_()
        actor.net[2].bias.zero_()
        actor.net[4].weight.copy_(torch.randn(3, hidden, generator=torch.Generator().manual_seed(0)))
    return actor


def test_bound_is_reached_by_the_signs_that_match_the_heaviest_row():
    actor = saturating_actor()
    w = actor.net[-1].weight.detach()
    row = w.abs().sum(1).argmax()
    z = torch.zeros(2, actor.obs_dim)
    z[0, :64], z[1, :64] = torch.sign(w[row]), -torch.sign(w[row])
    with torch.no_grad():
        reached = (actor(z[:1]) - actor(z[1:])).abs().max().item()
    assert abs(reached - open_loop.action_range(actor)) < 1e-4 * reached


def test_no_observation_moves_an_action_beyond_the_bound():
    actor = saturating_actor()
    z = 3 * torch.randn(20000, actor.obs_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mu = actor(z)
    observed = (mu.max(0).values - mu.min(0).values).max().item()
    assert 0.5 * open_loop.action_range(actor) < observed <= open_loop.action_range(actor)


def test_a_zero_output_layer_gives_a_constant_policy():
    actor = Actor(5, 2)
    with torch.no_grad():
        actor.net[-1].weight.zero_()
    assert open_loop.action_range(actor) == 0.0
