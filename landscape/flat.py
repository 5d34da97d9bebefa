"""Flat-parameter view of an Actor, and the batched forward pass over many parameter vectors.

Every landscape probe evaluates K parameter vectors on K x N observations; `batched_mean` does it
with one batched matmul per layer (faster than torch.vmap or a loop over K, see tests/benchmarks).
"""

from dataclasses import dataclass

import torch

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
                p.copy_(theta[b.offset:b.offset + b.size].view(b.shape))

    def views(self, thetas: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-block views [K, *shape] of a batch of flat vectors [K, P] (no copy)."""
        k = thetas.shape[0]
        return {b.name: thetas[:, b.offset:b.offset + b.size].view(k, *b.shape) for b in self.blocks}

    def mask(self, kinds: set[str]) -> torch.Tensor:
        """Boolean mask [P] selecting the blocks of the given kinds."""
        m = torch.zeros(self.size, dtype=torch.bool)
        for b in self.blocks:
            if b.kind in kinds:
                m[b.offset:b.offset + b.size] = True
        return m


def batched_mean(space: ParamSpace, thetas: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean actions of K policies: thetas [K, P], z [K, N, obs] -> [K, N, act]."""
    v = space.views(thetas)
    h = z
    for i in range(space.n_layers):
        w, b = v[f"net.{2 * i}.weight"], v[f"net.{2 * i}.bias"]
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < space.n_layers - 1:
            h = torch.tanh(h)
    return h


def batched_log_std(space: ParamSpace, thetas: torch.Tensor) -> torch.Tensor:
    """log-std of K policies: [K, act]."""
    return space.views(thetas)["log_std"]
