"""Projected gradient ascent in an l_inf ball: the one PGD used by every gradient attack and robust loss."""

import numpy as np
import torch


def project(z_adv: torch.Tensor, z: torch.Tensor, eps: float | torch.Tensor) -> torch.Tensor:
    """Nearest point of the l_inf ball of radius eps around z (eps may broadcast per sample)."""
    return torch.max(torch.min(z_adv, z + eps), z - eps)


def pgd(
    objective,
    z: torch.Tensor,
    eps: float | torch.Tensor,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """Maximize objective(z') per sample over ||z' - z||_inf <= eps with sign-gradient steps.

    objective maps z' [..., obs] to per-sample values [...]; samples are independent, so the gradient
    of their sum is each sample's own gradient. An objective that knows that gradient in closed form
    exposes `objective.grad(z')` (input_grad.py) and autograd is skipped. Default step size is eps/10
    (the literature's). start: the random start's uniform [-1, 1) noise (broadcast to z), instead of drawing
    it from `generator`. Returns a detached z' inside the ball.
    """
    z = z.detach()
    eps_t = torch.as_tensor(eps, dtype=z.dtype)
    if float(eps_t.max()) == 0.0 or steps == 0:
        return z.clone()
    step = eps_t / 10 if step_size is None else torch.as_tensor(step_size, dtype=z.dtype)
    z_adv = z.clone()
    if random_start:
        noise = torch.rand(z.shape, generator=generator, dtype=z.dtype) * 2 - 1 if start is None else start
        z_adv = z + noise * eps_t
    # The steps run on numpy views: on the trainers' minibatches of 64, torch's per-call overhead would be most
    # of an attack's cost. Same float32 operations in the same order as sign_step + project on tensors, so
    # the result is theirs bit for bit (tests/test_pgd.py); the gradient is the objective's, as a tensor.
    grad_of, zn, eps_n, step_n = gradient_of(objective), z.numpy(), eps_t.numpy(), step.numpy()
    lo, hi, x = zn - eps_n, zn + eps_n, z_adv.detach().numpy()
    for _ in range(steps):
        x = np.maximum(np.minimum(x + step_n * np.sign(grad_of(torch.from_numpy(x)).detach().numpy()), hi), lo)
    return torch.from_numpy(x)


def gradient_of(objective):
    """z' -> d sum(objective(z')) / d z': the objective's closed form (`objective.grad`) if it has one."""
    return getattr(objective, "grad", None) or (lambda x: autograd(objective, x))


def sign_step(grad_of, z_adv: torch.Tensor, step) -> torch.Tensor:
    """One ascent step of PGD, before projection: z' + step * sign(gradient). The Langevin solvers
    (robust/relaxations.py) take their steps with it too."""
    return z_adv + step * grad_of(z_adv).sign()


def autograd(objective, z_adv: torch.Tensor) -> torch.Tensor:
    """d sum(objective(z')) / d z' by autograd."""
    z_adv = z_adv.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(objective(z_adv).sum(), z_adv)
    return grad
