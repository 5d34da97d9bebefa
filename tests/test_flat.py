import torch

from landscape.model.flat import ParamSpace, batched_log_std, batched_mean
from landscape.model.policy import Actor


def test_flatten_assign_round_trip():
    actor = Actor(11, 3)
    space = ParamSpace(actor)
    theta = torch.randn(space.size)
    space.assign(actor, theta)
    assert torch.equal(space.flatten(actor), theta)
    assert space.size == sum(p.numel() for p in actor.parameters())


def test_batched_mean_matches_per_vector_loop():
    torch.manual_seed(0)
    actor = Actor(11, 3)
    space = ParamSpace(actor)
    thetas = space.flatten(actor) + 0.3 * torch.randn(7, space.size)
    z = torch.randn(7, 5, 11)
    batched = batched_mean(space, thetas, z)
    for k in range(7):
        space.assign(actor, thetas[k])
        with torch.no_grad():
            assert torch.allclose(batched[k], actor(z[k]), atol=1e-6)
            assert torch.equal(batched_log_std(space, thetas)[k], actor.log_std)


def test_mask_selects_blocks_by_kind():
    space = ParamSpace(Actor(4, 2, (8,)))
    w = space.mask({"weight"})
    assert int(w.sum()) == 4 * 8 + 8 * 2
    assert int(space.mask({"bias"}).sum()) == 8 + 2
    assert int(space.mask({"log_std"}).sum()) == 2
