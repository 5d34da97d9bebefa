"""Flat-parameter view of an Actor, and the batched forward pass over many parameter vectors.

Every landscape probe evaluates K parameter vectors on K x N observations; `batched_mean` does it in
one batched pass per layer. By default each output row is a function of its own (theta, observation)
alone, whatever else is in the batch (rowwise.py: exactly rounded products); a point's returns are
then the same in any scan chunk, alone or beside other points. Parameter-gradient estimates (thetas
that require grad) and `exact=False` use the plain float32 batched matmul, whose last bits depend on
the batch shape (benchmarks/batch_invariance.py compares both).
"""

from dataclasses import dataclass

import torch

from ..core.rowwise import MLP
from .policy import Actor


@dataclass(frozen=True)
class Block:
    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def kind(self) -> str:
        """'weight', 'bias' or 'log_std' -- used to choose which parameters a direction moves."""
        return "log_std" if self.name == "log_std" else self.name.rsplit(".", 1)[-1]


class ParamSpace:
    """Layout of an Actor's parameters in one flat vector (order of named_parameters)."""

    def __init__(self, actor: Actor):
        self.blocks, offset = [], 0
        for name, p in actor.named_parameters():
            self.blocks.append(Block(name, tuple(p.shape), offset))
            offset += p.numel()
        self.size = offset
        self.layers = [m for m in actor.net if isinstance(m, torch.nn.Linear)]
        self.n_layers = len(self.layers)

    def flatten(self, actor: Actor) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in actor.parameters()]).clone()

    def assign(self, actor: Actor, theta: torch.Tensor) -> None:
        if theta.shape != (self.size,):
            raise ValueError(f"expected a vector of {self.size} parameters, got shape {tuple(theta.shape)}")
        with torch.no_grad():
            for b, p in zip(self.blocks, actor.parameters()):
                p.copy_(theta[b.offset : b.offset + b.size].view(b.shape))

    def views(self, thetas: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-block views [K, *shape] of a batch of flat vectors [K, P] (no copy)."""
        k = thetas.shape[0]
        return {b.name: thetas[:, b.offset : b.offset + b.size].view(k, *b.shape) for b in self.blocks}

    def mask(self, kinds: set[str]) -> torch.Tensor:
        """Boolean mask [P] selecting the blocks of the given kinds."""
        m = torch.zeros(self.size, dtype=torch.bool)
        for b in self.blocks:
            if b.kind in kinds:
                m[b.offset : b.offset + b.size] = True
        return m


def batched_mean(space: ParamSpace, thetas: torch.Tensor, z: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """Mean actions of K policies: thetas [K, P], z [K, N, obs] -> [K, N, act].

    exact (default): every row is computed from its own theta and observation alone (module docstring);
    differentiable in z. When thetas require grad (policy-gradient estimates), or with exact=False, one
    float32 batched matmul per layer."""
    if exact and not (thetas.requires_grad and torch.is_grad_enabled()):
        return batched_net(space, thetas)(z)
    v = space.views(thetas)
    h = z
    for i in range(space.n_layers):
        w, b = v[f"net.{2 * i}.weight"], v[f"net.{2 * i}.bias"]
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < space.n_layers - 1:
            h = torch.tanh(h)
    return h


_NET: list = [None, -1, None]  # the last (thetas, version, net): a rollout calls with the same thetas each step


def batched_net(space: ParamSpace, thetas: torch.Tensor) -> MLP:
    """The batch-invariant actor networks of thetas [K, P] (rowwise.MLP, for z [K, N, obs]), cached for
    the last thetas tensor while it is unchanged."""
    if _NET[0] is thetas and _NET[1] == thetas._version and _NET[2][0] == space.blocks:
        return _NET[2][1]
    v = space.views(thetas.detach())
    net = MLP([(v[f"net.{2 * i}.weight"], v[f"net.{2 * i}.bias"]) for i in range(space.n_layers)])
    _NET[:] = [thetas, thetas._version, (space.blocks, net)]
    return net


def batched_log_std(space: ParamSpace, thetas: torch.Tensor) -> torch.Tensor:
    """log-std of K policies: [K, act]."""
    return space.views(thetas)["log_std"]
