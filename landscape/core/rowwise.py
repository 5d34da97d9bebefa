"""Dense layers whose every output is a function of its own row alone: the batch-invariant forward pass.

A float32 matmul rounds differently per batch shape (BLAS picks its kernel, blocking and vector path by
shape and alignment), so the same observation gives a different action, in the last bits, depending on what
else is in the batch; chaotic environments (Walker2d's falls) amplify that into returns that differ by
thousands. Here every pre-activation is the exact dot product rounded once to float32:

    y = round_f32(sum_i x_i w_i + b)

computed as a float64 matmul (products of float32 numbers are exact in float64) with a rigorous bound on
its rounding error, |y64 - exact| <= gamma_(n+1) * (|x| @ |w| + |b|) for any summation order. Where the
bound interval rounds to one float32 at both ends, that float32 is the exact sum's; the rare elements whose
interval straddles a float32 rounding boundary are summed exactly (math.fsum) and rounded there. The result
then depends on nothing but the row's numbers: not on the batch, the BLAS, its threads or the alignment.
tanh and the other elementwise steps are per element already (tests/test_batch_invariance.py).

`Dense` holds one layer, weights shared ([m, n]) or one per parameter vector ([K, m, n], inputs [K, N, n]);
`linear` is differentiable in its input (the backward pass is a `Dense` of the transposed weights, so
gradients with respect to observations are batch-invariant too; weight gradients are plain sums over rows).
"""

import math

import numpy as np
import torch

_U64 = 2.0**-53
_U32 = 2.0**-24
_TINY = 2.0**-180  # covers float32 underflow in the bound's own matmul; rounds to 0 in float32


class Dense:
    """One layer x -> x @ w^T + b with exactly rounded outputs (module docstring)."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None = None):
        w = w.detach().to(torch.float32)
        self.w, self.batched = w, w.dim() == 3
        self.b = torch.zeros(w.shape[:-1]) if b is None else b.detach().to(torch.float32)
        self.n = w.shape[-1]
        self.wd_t = w.double().transpose(-1, -2)  # [(K,) n, m]
        self.bd = self.b.double()
        self.wabs_t = w.abs().transpose(-1, -2)
        self.babs = self.b.abs()
        n1 = self.n + 1
        gamma64 = n1 * _U64 / (1 - n1 * _U64)
        # x2: the rounding of y -/+ bound itself; the float32 matmul of the bound errs by at most 2 n1 u32
        self.scale = 2 * gamma64 * (1 + 2 * n1 * _U32) / (1 - 2 * n1 * _U32)

    def _mm(self, x, wt, b):
        if self.batched:
            return torch.baddbmm(b.unsqueeze(-2), x, wt)
        return torch.matmul(x, wt) + b

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().to(torch.float32)
        y = self._mm(x.double(), self.wd_t, self.bd)
        bound = self._mm(x.abs(), self.wabs_t, self.babs).double() * self.scale + _TINY
        out = y.to(torch.float32)
        bad = (y - bound).to(torch.float32) != (y + bound).to(torch.float32)
        if bool(bad.any()):
            self._exact(x, out, bad & torch.isfinite(y))
        return out

    def _exact(self, x, out, bad) -> None:
        """Sum the flagged elements exactly and round them once (in place)."""
        w = self.w
        for idx in bad.nonzero().tolist():
            *row, o = idx
            k = row[0] if self.batched else None
            wo = (w[k, o] if self.batched else w[o]).tolist()
            bo = float(self.b[k, o] if self.batched else self.b[o])
            out[tuple(idx)] = exact_f32([a * c for a, c in zip(x[tuple(row)].tolist(), wo)] + [bo])


def exact_f32(terms: list[float]) -> float:
    """The exact sum of float64 numbers rounded once to float32 (round half to even)."""
    s = math.fsum(terms)  # the exact sum correctly rounded to float64
    with np.errstate(over="ignore"):  # beyond float32's range: inf, as the float32 result is
        f = np.float32(s)
    if float(f) != s and math.isfinite(s):
        g = np.nextafter(f, np.float32(np.inf) if s > float(f) else np.float32(-np.inf))
        if float(g) - s == s - float(f):  # s sits on a float32 midpoint: the exact remainder decides
            r = math.fsum(terms + [-s])
            if r != 0 and (r > 0) == (float(g) > s):
                f = g
    return float(f)


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, dense):
        ctx.save_for_backward(x, w)
        ctx.dense = dense
        return dense(x)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = Dense(w.transpose(-1, -2))(g)
        if ctx.needs_input_grad[1]:
            gw = (
                torch.matmul(g.transpose(-1, -2), x)
                if w.dim() == 3
                else (g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1]))
            )
        if ctx.needs_input_grad[2]:
            gb = g.sum(-2) if w.dim() == 3 else g.reshape(-1, g.shape[-1]).sum(0)
        return gx, gw, gb, None


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, dense: Dense | None = None) -> torch.Tensor:
    """x @ w^T + b with exactly rounded outputs; differentiable (pass `dense` = Dense(w, b) to reuse it)."""
    dense = dense or Dense(w, b)
    if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad or b.requires_grad):
        return _Linear.apply(x, w, b, dense)
    return dense(x)


class MLP:
    """A Linear-tanh-...-Linear network of Dense layers, with the closed-form input gradient (input_grad.py)."""

    def __init__(self, layers: list[tuple[torch.Tensor, torch.Tensor]]):
        self.params = [(w, b) for w, b in layers]
        self.layers = [Dense(w, b) for w, b in layers]
        self._back = None

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Output and the hidden activations; differentiable in z."""
        hidden, h = [], z
        for i, ((w, b), dense) in enumerate(zip(self.params, self.layers)):
            h = linear(h, w, b, dense)
            if i < len(self.layers) - 1:
                h = torch.tanh(h)
                hidden.append(h)
        return h, hidden

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward(z)[0]

    def input_grad(self, hidden: list[torch.Tensor], g_out: torch.Tensor) -> torch.Tensor:
        """d (sum of g_out * output) / d z, given the activations of `forward`; each row's alone."""
        if self._back is None:
            self._back = [Dense(w.transpose(-1, -2)) for w, _ in self.params]
        g = self._back[-1](g_out)
        for h, back in zip(reversed(hidden), reversed(self._back[:-1])):
            g = back(g * (1 - h * h))
        return g


def mlp_of(net: torch.nn.Sequential) -> MLP:
    """The batch-invariant MLP of a torch Linear-Tanh-...-Linear network (the same weights): what an attack runs
    in place of a network of its own (a critic, a learned adversary, a Q function), so that its outputs do not
    depend on the batch either."""
    if any(not isinstance(m, (torch.nn.Linear, torch.nn.Tanh)) for m in net):
        raise ValueError(f"not a Linear-Tanh network: {net}")
    return MLP([(m.weight, m.bias) for m in net if isinstance(m, torch.nn.Linear)])
