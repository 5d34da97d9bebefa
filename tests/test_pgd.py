import torch

from landscape.rl.pgd import pgd, project


def test_pgd_finds_corner_of_linear_objective_and_stays_in_ball():
    torch.manual_seed(0)
    z = torch.randn(64, 5)
    w = torch.randn(5)
    z_adv = pgd(lambda x: x @ w, z, eps=0.1, steps=20)
    assert (z_adv - z).abs().max() <= 0.1 + 1e-6
    # a linear objective's maximizer over the box is the corner sign(w) * eps
    assert torch.allclose(z_adv - z, 0.1 * w.sign().expand_as(z), atol=1e-6)


def test_pgd_eps_zero_is_identity_and_per_sample_eps():
    z = torch.randn(8, 3)
    assert torch.equal(pgd(lambda x: (x**2).sum(-1), z, eps=0.0), z)
    eps = torch.linspace(0, 0.5, 8)[:, None]
    z_adv = pgd(lambda x: (x**2).sum(-1), z, eps=eps, steps=5)
    assert ((z_adv - z).abs() <= eps + 1e-6).all()


def test_project():
    z = torch.zeros(2, 2)
    assert torch.equal(
        project(torch.tensor([[1.0, -1.0], [0.05, 0.0]]), z, 0.1), torch.tensor([[0.1, -0.1], [0.05, 0.0]])
    )
