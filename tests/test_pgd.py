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


def test_pgd_equals_its_torch_formulation_bit_for_bit():
    """pgd steps on numpy views for speed; it must give what sign steps and projections on tensors give
    (the formulation the studies were trained and evaluated with), to the bit: random start, per-sample eps,
    autograd and closed-form gradients."""
    from landscape.rl.pgd import gradient_of, sign_step

    def reference(objective, z, eps, steps):
        eps_t = torch.as_tensor(eps, dtype=z.dtype)
        step = eps_t / 10
        z_adv = z + (torch.rand(z.shape) * 2 - 1) * eps_t
        grad_of = gradient_of(objective)
        for _ in range(steps):
            z_adv = project(sign_step(grad_of, z_adv, step), z, eps_t)
        return z_adv

    class Closed:  # an objective with a closed-form gradient
        def __init__(self, w):
            self.w = w

        def __call__(self, x):
            return torch.tanh(x @ self.w).sum(-1)

        def grad(self, x):
            return (1 - torch.tanh(x @ self.w) ** 2) @ self.w.T

    torch.manual_seed(0)
    z, w = torch.randn(64, 5), torch.randn(5, 3)
    for objective in (Closed(w), lambda x: torch.tanh(x @ w).sum(-1)):
        for eps in (0.075, torch.linspace(0.01, 0.2, 64)[:, None]):
            torch.manual_seed(1)
            want = reference(objective, z, eps, 10)
            torch.manual_seed(1)
            assert torch.equal(pgd(objective, z, eps, 10), want)
