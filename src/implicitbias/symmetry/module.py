"""Parametrizations of ``torch.nn.Module`` functions and training objectives.

:meth:`Parametrization.from_module` turns a module into a parametrization with
``torch.func.functional_call``: the named parameters are the named tensors, buffers (running
statistics, masks) are constants. The symmetries wanted are those of the **function for all
inputs**, ``f(x; A theta)`` = ``f(x; theta)`` to first order for every ``x``: discovery draws
fresh probe inputs (:meth:`ModuleParametrization.sample_probes`; default i.i.d. ``N(0, 1)`` of
the example input's per-sample shape, or a user sampler / dataset). On one small fixed batch
``X`` a network has many more invariances -- any change of first-layer weights orthogonal to
the rows of ``X`` -- which is not what "a symmetry of my network" means; that restricted
problem is available only with ``restrict_to_batch=True``.

:meth:`Parametrization.from_loss` does the same for a scalar objective
``loss_fn(model, batch)``: its symmetries include those of the loss that the network function
lacks (e.g. a goodness that only sees ``sum h^2`` is invariant under sign flips and rotations
of ``h``). Each probe is a whole fresh batch.

The module runs in eval mode during every evaluation (dropout off, batch-norm running
statistics constant); its ``training`` flag is restored afterwards. Dim 0 of every input is
the batch dimension. Evaluation is in float64 (parameters, floating buffers and inputs).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from implicitbias.errors import UserInputError
from implicitbias.seeding import torch_generator
from implicitbias.symmetry.parametrization import Parametrization
from implicitbias.symmetry.probes import (
    Stacked,
    dataset_sampler,
    default_sampler,
    first_tensor,
    map_tensors,
    one_line,
    vmap_or_loop,
    wrap_sampler,
)

__all__ = ["ModuleParametrization", "from_module", "from_loss", "head_blocks"]

F64 = torch.float64
REF_PROBES_MAX = 2048
"""Cap on the fixed reference probe batch that ``p(theta)`` evaluates (dense/structured paths)."""


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def head_blocks(model: nn.Module) -> dict[tuple[str, int], int]:
    """Per-head block structure of the attention layers of ``model``.

    Returns ``{(parameter name, axis): block size}``: for every ``nn.MultiheadAttention`` the
    rows of the q/k/v projections (and their biases) and the columns of ``out_proj.weight`` come
    in blocks of ``head_dim``, on which ``GL(head_dim)`` acts (reference §6.5).
    """
    out: dict[tuple[str, int], int] = {}
    for prefix, mod in model.named_modules():
        if isinstance(mod, nn.MultiheadAttention):
            pre = f"{prefix}." if prefix else ""
            hd = mod.head_dim
            for nm in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias"):
                if getattr(mod, nm, None) is not None:
                    out[(pre + nm, 0)] = hd
            out[(pre + "out_proj.weight", 1)] = hd
    return out


class ModuleParametrization(Parametrization):
    """A :class:`Parametrization` of a module's function (or objective) on probe inputs.

    ``p(theta)`` evaluates the outputs on a fixed, seeded *reference* probe batch (enough
    probes for a full-rank Jacobian, capped at :data:`REF_PROBES_MAX`), which is what the
    dense and structured discovery paths see; the scalable path instead draws fresh probes
    for every constraint (:meth:`sample_probes`, :meth:`per_probe_grads`).

    Attributes:
        model: the module (never modified).
        theta0: the module's current parameters as a flat float64 vector ``(D,)``.
        blocks: ``{(name, axis): block size}`` head structure for ``GL(block)`` families.
        restricted: whether probes are the example batch only.
    """

    def __init__(
        self,
        model: nn.Module,
        example: Any,
        evaluate: Callable[[dict[str, torch.Tensor], Any], torch.Tensor],
        sampler: Callable[[int, torch.Generator], Any],
        restricted: bool,
        name: str,
        per_probe_batch: bool,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise UserInputError(f"expected a torch.nn.Module, got {type(model).__name__}")
        named = {k: v for k, v in model.named_parameters() if v.requires_grad}
        if not named:
            raise UserInputError("the module has no trainable parameters")
        shapes = {k: tuple(v.shape) if v.dim() else (1,) for k, v in named.items()}
        self.model = model
        self._scalar = {k for k, v in named.items() if v.dim() == 0}
        self._buffers = {k: (b.detach().to(F64) if torch.is_floating_point(b) else b.detach())
                         for k, b in model.named_buffers()}
        self._evaluate = evaluate
        self._sampler = sampler
        self._example = example
        self.restricted = restricted
        self._per_probe_batch = per_probe_batch  # True: a probe is a whole batch (from_loss)
        self.blocks = head_blocks(model)
        self._ref: Any = None
        super().__init__(self._fn, shapes, name=name)
        self.theta0 = self.flatten({k: v.detach().to(F64).reshape(shapes[k]) for k, v in named.items()})

    # ---- evaluation ----------------------------------------------------------------------
    def _call(self, params: dict[str, torch.Tensor], inputs: Any) -> torch.Tensor:
        full = {k: (v.reshape(()) if k in self._scalar else v) for k, v in params.items()}
        full.update(self._buffers)
        with _eval_mode(self.model):
            out = self._evaluate(full, inputs)
        if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
            out = out[0]  # e.g. nn.MultiheadAttention returns (output, weights)
        if not isinstance(out, torch.Tensor):
            raise UserInputError(f"the module returned {type(out).__name__}, not a torch.Tensor")
        return out

    def _fn(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        if self._ref is None:
            self._ref = self._reference_probes()
        return self._call(params, self._ref)

    def _reference_probes(self) -> Any:
        if self.restricted:
            return self._example
        if self._per_probe_batch:
            n = min(REF_PROBES_MAX, self.dim + 16)
            gen = torch_generator(0, "module-reference-batches", self.name)
            batches = [self._sampler(1, gen) for _ in range(n)]
            return Stacked(batches)
        out = self._call(self._params0(), self.sample_probes(1, torch_generator(0, "module-size")))
        per = max(1, out.numel())
        n = min(REF_PROBES_MAX, math.ceil(2 * self.dim / per) + 16)
        return self.sample_probes(n, torch_generator(0, "module-reference-probes", self.name))

    def current_theta(self) -> torch.Tensor:
        """The module's parameters *now* as a flat float64 vector ``(D,)`` (e.g. during training)."""
        named = dict(self.model.named_parameters())
        return self.flatten({k: named[k].detach().to(F64).reshape(s) for k, s in self.shapes.items()})

    def _params0(self) -> dict[str, torch.Tensor]:
        return self.unflatten(self.theta0)

    def sample_probes(self, n: int, generator: torch.Generator) -> Any:
        """``n`` fresh probe inputs (batch dim 0), or the example batch when restricted."""
        if self.restricted:
            return self._example
        return self._sampler(n, generator)

    def random_theta(self, generator: torch.Generator) -> torch.Tensor:
        """A generic random point at the module's scale: ``rms_T * N(0, 1)`` for each tensor ``T``.

        ``rms_T`` is the root-mean-square of the module's current tensor (the global one for
        all-zero tensors such as fresh biases). ``theta0`` itself is often not generic (zero
        biases, unit gains), and points *around* ``theta0`` share its dead units, so discovery
        uses independent points.
        """
        rms_all = float(self.theta0.pow(2).mean().sqrt()) or 1.0
        parts = []
        for s in self.slices.values():
            t = self.theta0[s]
            rms = float(t.pow(2).mean().sqrt()) if t.numel() else 0.0
            parts.append((rms or rms_all) * torch.randn(t.numel(), generator=generator, dtype=F64))
        return torch.cat(parts)

    def per_probe_grads(
        self, theta: torch.Tensor, n: int, generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """Gradients of ``<r_i, f(x_i; theta)>`` for ``n`` fresh probes ``x_i`` and ``r_i ~ N(0, I)``.

        One vector-Jacobian product per probe, batched with ``torch.func.vmap`` (a loop when
        the module cannot be vmapped). Returns ``name -> (n, *shape)`` float64.
        """
        params = self.unflatten(theta.to(F64))
        if self.restricted:
            x = self._example
            out = self._call(params, x)
            r = torch.randn(n, *out.shape, generator=generator, dtype=F64)

            def one_r(rr: torch.Tensor) -> dict[str, torch.Tensor]:
                return torch.func.grad(lambda q: (self._call(q, x) * rr).sum())(params)

            return vmap_or_loop(one_r, (r,), n)
        if self._per_probe_batch:
            batches = [self._sampler(1, generator) for _ in range(n)]
            return vmap_or_loop(lambda b: torch.func.grad(lambda q: self._call(q, b).sum())(params),
                                 (Stacked(batches).data,), n, loop_args=[(b,) for b in batches])
        xs = self._sampler(n, generator)
        out1 = self._call(params, map_tensors(xs, lambda t: t[:1]))
        r = torch.randn(n, *out1.shape[1:], generator=generator, dtype=F64)

        def one(x: Any, rr: torch.Tensor) -> dict[str, torch.Tensor]:
            xb = map_tensors(x, lambda t: t.unsqueeze(0))
            return torch.func.grad(lambda q: (self._call(q, xb)[0] * rr).sum())(params)

        loop = [(map_tensors(xs, lambda t, i=i: t[i]), r[i]) for i in range(n)]
        return vmap_or_loop(one, (xs, r), n, loop_args=loop)


def from_module(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    probe_inputs: Any = None,
    probe_sampler: Callable[[int, torch.Generator], Any] | None = None,
    restrict_to_batch: bool = False,
) -> ModuleParametrization:
    """The function ``theta -> model(x; theta)`` of a module, for all inputs ``x``.

    Args:
        model: any ``nn.Module`` whose ``forward`` takes one input (batch dim 0).
        example_input: a batch fixing the per-sample shape and dtype, ``(B, *shape)``.
        probe_inputs: optional tensor ``(N, *shape)`` or dataset to draw probes from.
        probe_sampler: optional ``sampler(n, generator) -> (n, *shape)`` input batch.
        restrict_to_batch: the symmetries of ``model`` on ``example_input`` only (many more
            than those of the function; use only when that is what you want).

    Raises:
        UserInputError: not a module, no parameters, or the module fails on the example.
    """
    if not isinstance(model, nn.Module):
        raise UserInputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if first_tensor(example_input) is None:
        raise UserInputError("example_input must be a tensor (batch dim 0)")
    example = map_tensors(example_input, lambda t: t.detach().to(F64) if torch.is_floating_point(t) else t)
    if probe_sampler is not None and probe_inputs is not None:
        raise UserInputError("give probe_inputs or probe_sampler, not both")
    sampler = (wrap_sampler(probe_sampler) if probe_sampler is not None
               else dataset_sampler(probe_inputs) if probe_inputs is not None
               else default_sampler(example))

    def evaluate(params: dict[str, torch.Tensor], x: Any) -> torch.Tensor:
        return torch.func.functional_call(model, params, (x,))

    p = ModuleParametrization(model, example, evaluate, sampler, restrict_to_batch,
                              type(model).__name__, per_probe_batch=False)
    _check(p)
    return p


class _LossWrapper(nn.Module):
    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self._loss_fn = loss_fn

    def forward(self, batch: Any) -> torch.Tensor:
        return self._loss_fn(self.model, batch)


def from_loss(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    example_batch: Any,
    *,
    batch_sampler: Callable[[int, torch.Generator], Any] | None = None,
    restrict_to_batch: bool = False,
) -> ModuleParametrization:
    """The training objective ``theta -> loss_fn(model(theta), batch)`` for all batches.

    Args:
        model: the module; ``loss_fn`` may call it and its submodules freely.
        loss_fn: ``loss_fn(model, batch) -> scalar tensor``.
        example_batch: a tensor, tuple/list or dict of tensors (batch dim 0): fixes shapes.
            Fresh batches have the same shapes: floats ``N(0, 1)``, integers resampled from
            the example's values (labels), booleans fair coins.
        batch_sampler: optional ``sampler(1, generator) -> batch`` of fresh batches.
        restrict_to_batch: symmetries of the loss on ``example_batch`` only.
    """
    if not isinstance(model, nn.Module):
        raise UserInputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise UserInputError("loss_fn is not callable")
    example = map_tensors(example_batch, lambda t: t.detach().to(F64) if torch.is_floating_point(t) else t)
    if first_tensor(example) is None:
        raise UserInputError("example_batch must contain a tensor")
    if batch_sampler is not None:
        user = wrap_sampler(batch_sampler)
        sampler = user
    else:
        one = default_sampler(example)
        bsz = first_tensor(example).shape[0]

        def sampler(n: int, g: torch.Generator) -> Any:  # one whole batch
            return one(bsz, g)

    wrapper = _LossWrapper(model, loss_fn)

    def evaluate(params: dict[str, torch.Tensor], batch: Any) -> torch.Tensor:
        if isinstance(batch, Stacked):
            return torch.stack([evaluate(params, b) for b in batch.batches])
        full = {f"model.{k}": v for k, v in params.items()}
        out = torch.func.functional_call(wrapper, full, (batch,))
        if isinstance(out, torch.Tensor) and out.numel() != 1:
            raise UserInputError(f"loss_fn returned shape {tuple(out.shape)}; expected a scalar")
        return out.reshape(()) if isinstance(out, torch.Tensor) else out

    p = ModuleParametrization(model, example, evaluate, sampler, restrict_to_batch,
                              f"loss({type(model).__name__})", per_probe_batch=True)
    _check(p)
    return p


def _check(p: ModuleParametrization) -> None:
    """Evaluate once on the example; every failure becomes one :class:`UserInputError` line."""
    try:
        out = p._call(p._params0(), p._example)
    except UserInputError:
        raise
    except Exception as e:  # noqa: BLE001 - user modules may raise anything
        raise one_line("the module failed on the example input", e) from None
    if not torch.is_floating_point(out):
        raise UserInputError(f"the module returned a {out.dtype} tensor; expected floating point")
    if not torch.isfinite(out).all():
        raise UserInputError("the module returned non-finite values on the example input")
