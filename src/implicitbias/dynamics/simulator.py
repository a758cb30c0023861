"""The many-chain simulator: C independent chains advanced together, one batched step.

See :mod:`implicitbias.dynamics` for the user-facing description.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.func import vmap

from implicitbias.device import resolve_device
from implicitbias.dynamics.data import DataSource, FullBatch
from implicitbias.dynamics.noise import ChainNoise
from implicitbias.dynamics.rules import Rule, as_rule
from implicitbias.errors import UserInputError

__all__ = ["Simulator", "SimResult", "ParamLayout"]

log = logging.getLogger(__name__)
Tensor = torch.Tensor
_EMPTY: dict = {}
LossFn = Callable[[dict[str, Tensor], dict[str, Tensor]], Tensor]
#: hand-written batched gradient: ``(params (C, *shape) views, batch) -> (losses (C,), grad)``
#: with ``grad`` a flat ``(C, D)`` tensor or a name -> ``(C, *shape)`` mapping; ``losses`` may
#: be a zero-argument callable, then evaluated only at recorded steps.
GradFn = Callable[[dict[str, Tensor], dict[str, Tensor]], tuple[Tensor, Any]]


@dataclass(frozen=True)
class ParamLayout:
    """Named parameter shapes packed into one flat vector of length ``dim`` (insertion order)."""

    shapes: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def of(cls, shapes: Mapping[str, Sequence[int]] | Any) -> ParamLayout:
        """From a ``{name: shape}`` mapping or an object with a ``shapes`` mapping attribute."""
        if not isinstance(shapes, Mapping):
            shapes = getattr(shapes, "shapes", None)
            if not isinstance(shapes, Mapping):
                raise UserInputError("parameter shapes must be a {name: shape} mapping")
        return cls(tuple((str(k), tuple(int(s) for s in v)) for k, v in shapes.items()))

    @property
    def dim(self) -> int:
        return sum(math.prod(s) for _, s in self.shapes)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """``(C, D)`` -> name -> ``(C, *shape)`` views."""
        out, off = {}, 0
        C = theta.shape[0]
        for name, shape in self.shapes:
            n = math.prod(shape)
            out[name] = theta[:, off : off + n].view(C, *shape)
            off += n
        return out

    def unflatten_one(self, theta: Tensor) -> dict[str, Tensor]:
        """``(D,)`` -> name -> ``shape`` views (one chain)."""
        out, off = {}, 0
        for name, shape in self.shapes:
            n = math.prod(shape)
            out[name] = theta[off : off + n].view(shape)
            off += n
        return out

    def flatten(self, params: Mapping[str, Tensor]) -> Tensor:
        """name -> ``(C, *shape)`` to ``(C, D)``."""
        missing = [n for n, _ in self.shapes if n not in params]
        if missing:
            raise UserInputError(f"missing parameters: {missing}")
        C = next(iter(params.values())).shape[0]
        return torch.cat([params[n].reshape(C, -1) for n, _ in self.shapes], dim=1)


@dataclass
class SimResult:
    """Output of :meth:`Simulator.run`.

    Attributes:
        theta: ``(C, D)`` final flat parameters (last finite values for frozen chains).
        steps: ``(R,)`` int64 step numbers of the records (0 = initial state).
        records: name -> ``(R, C, ...)`` observables; ``"loss"`` is the minibatch loss of the
            step that produced each record (NaN at step 0).
        frozen: ``(C,)`` bool, chains that produced a non-finite value.
        frozen_at: ``(C,)`` int64, step at which they were frozen (-1 if never).
        chain_ids: the global chain indices simulated.
        layout: the parameter layout (``result.params()`` gives the named tensors).
    """

    theta: Tensor
    steps: Tensor
    records: dict[str, Tensor]
    frozen: Tensor
    frozen_at: Tensor
    chain_ids: list[int]
    layout: ParamLayout = field(repr=False)

    def params(self) -> dict[str, Tensor]:
        """Final parameters by name, ``(C, *shape)``."""
        return self.layout.unflatten(self.theta)

    @property
    def diverged(self) -> dict[int, int]:
        """``{chain id: step}`` of every chain frozen for a non-finite value (empty if none)."""
        return {self.chain_ids[i]: int(self.frozen_at[i]) for i in torch.nonzero(self.frozen).flatten().tolist()}

    def arrays(self) -> dict[str, Tensor]:
        """All arrays for ``RunDir.save_arrays`` (records prefixed ``rec.``)."""
        out = {"theta": self.theta, "steps": self.steps, "frozen": self.frozen.to(torch.uint8),
               "frozen_at": self.frozen_at, "chain_ids": torch.tensor(self.chain_ids)}
        out.update({f"rec.{k}": v for k, v in self.records.items()})
        return out


class Simulator:
    """C independent chains of a stochastic dynamics, advanced by one batched step.

    Args:
        loss: per-chain loss ``loss(params, batch) -> scalar`` where ``params`` maps names to
            one chain's tensors and ``batch`` to one chain's batch (vmapped over chains); with
            ``batched_loss=True`` it instead receives ``(C, ...)`` tensors and returns ``(C,)``.
            May be ``None`` when ``grad`` is given.
        shapes: ``{name: shape}`` of one chain's parameters (or an object with ``.shapes``).
        rules: an update rule, a ``chain(...)`` or a list of rules.
        data: a :class:`~implicitbias.dynamics.data.DataSource` (``None``: empty full batch).
        observables: name -> per-chain ``f(params) -> Tensor`` recorded every ``record_every``
            steps (vmapped; ``batched_observables=True`` for ``(C, ...)`` functions).
        record_every: recording interval ``k``.
        block: steps of noise drawn per chain at once.
        dtype, device: of parameters, data and noise (float64 default for validation work).
        grad: a hand-written batched gradient ``grad(params, batch) -> (losses (C,), g)``
            (``params``: name -> ``(C, *shape)`` views; ``g``: flat ``(C, D)`` or name ->
            ``(C, *shape)``; ``losses`` may be a callable evaluated only at recorded steps). It
            replaces autograd on ``loss`` (no graph is built); the experiments' closed-form
            gradients plug in here and are tested against autograd.
    """

    def __init__(
        self,
        loss: LossFn | None,
        shapes: Mapping[str, Sequence[int]] | Any,
        rules: Rule | Sequence[Rule],
        data: DataSource | None = None,
        observables: Mapping[str, Callable[[dict[str, Tensor]], Tensor]] | None = None,
        *,
        record_every: int = 1,
        block: int = 256,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        batched_loss: bool = False,
        batched_observables: bool = False,
        grad: GradFn | None = None,
    ) -> None:
        if record_every < 1 or block < 1:
            raise UserInputError("record_every and block must be >= 1")
        if loss is None and grad is None:
            raise UserInputError("Simulator needs a loss or a grad function")
        self.layout = ParamLayout.of(shapes)
        self.rule = as_rule(rules)
        self.device = resolve_device(device)
        self.dtype = dtype
        data = data if data is not None else FullBatch({})
        if hasattr(data, "to"):
            data = data.to(dtype, self.device)  # type: ignore[attr-defined]
        self.data = data
        self.record_every = int(record_every)
        self.block = int(block)
        self._user_loss = loss
        self._batched_loss = bool(batched_loss)
        self._grad = grad
        self._sgd_lr = self.rule.plain_sgd_lr()
        self._transforms = any(type(r).transform_batch is not Rule.transform_batch for r in self.rule.rules)
        self._vcache: dict[tuple[str, ...], Callable] = {}
        obs = dict(observables or {})
        if "loss" in obs:
            raise UserInputError("observable name 'loss' is reserved (the minibatch loss is recorded)")
        self._obs = obs if batched_observables else {k: vmap(f) for k, f in obs.items()}
        bshapes = self.data.batch_shapes()
        self._data_spec = self.data.noise_spec()
        self._rule_spec = self.rule.noise_spec(self.layout.dim, bshapes)
        self.noise_spec = {**{("data", k): v for k, v in self._data_spec.items()},
                           **{("rule", *k): v for k, v in self._rule_spec.items()}}

    # ---- one step --------------------------------------------------------------------------
    def _step(self, theta: Tensor, params: dict[str, Tensor], noise: dict[str, Tensor], out: Tensor) -> Any:
        """One step from ``theta`` (``params``: its named views) written into ``out``; returns
        the ``(C,)`` minibatch losses (or a callable giving them)."""
        C = theta.shape[0]
        dnoise = noise.get("data", _EMPTY)
        rnoise = noise.get("rule", _EMPTY)
        batch = self.data.batch(dnoise, C)
        if self._transforms:
            batch = self.rule.transform_batch(batch, rnoise, theta)
        if self._grad is not None:
            losses, grad = self._grad(params, batch)
            if isinstance(grad, Mapping):
                grad = self.layout.flatten(grad)
        else:
            th = theta.detach().requires_grad_(True)
            with torch.enable_grad():
                losses = self._losses(th, batch)
                (grad,) = torch.autograd.grad(losses.sum(), th)
        if self._sgd_lr is not None:  # the one-rule SGD chain: one fused op
            torch.add(theta, grad, alpha=-self._sgd_lr, out=out)
        else:
            delta = self.rule.update(None, grad, theta, rnoise)
            if delta is None:
                out.copy_(theta)
            else:
                torch.add(theta, delta, out=out)
        return losses if callable(losses) else losses.detach()

    def _losses(self, th: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """``(C,)`` per-chain losses; the per-chain loss is vmapped over (θ, batch values)."""
        if self._batched_loss:
            return self._user_loss(self.layout.unflatten(th), batch)
        keys = tuple(batch)
        f = self._vcache.get(keys)
        if f is None:
            layout, loss = self.layout, self._user_loss

            def one_chain(t: Tensor, *values: Tensor) -> Tensor:
                return loss(layout.unflatten_one(t), dict(zip(keys, values, strict=True)))

            f = self._vcache[keys] = vmap(one_chain)
        return f(th, *batch.values())

    def _observe(self, theta: Tensor) -> dict[str, Tensor]:
        params = self.layout.unflatten(theta)
        with torch.no_grad():
            return {k: f(params) for k, f in self._obs.items()}

    # ---- run -------------------------------------------------------------------------------
    def run(
        self,
        theta0: Tensor | Mapping[str, Tensor],
        steps: int,
        *,
        seed: int = 0,
        chain_ids: Sequence[int] | None = None,
        run_dir: Any = None,
        name: str = "dynamics",
        checkpoint_every: int = 0,
        stop_after: int | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> SimResult:
        """Advance every chain ``steps`` steps from ``theta0``.

        Args:
            theta0: ``(C, D)`` flat parameters or name -> ``(C, *shape)``.
            steps: number of steps.
            seed: base seed; chain ``c`` draws from ``derive_seed(seed, "dynamics-chain", c)``.
            chain_ids: global index of each chain (default ``0..C-1``); a chain's trajectory
                depends only on (seed, its id, theta0 row), not on the other chains.
            run_dir: a :class:`~implicitbias.runs.RunDir`; the result is saved to
                ``<name>.safetensors`` and checkpoints (if ``checkpoint_every``) to its
                checkpoint file; an existing checkpoint of the same ``name``/signature is
                resumed exactly.
            checkpoint_every: steps between checkpoints (0: none).
            stop_after: stop (after checkpointing) once this many steps are done, as if
                interrupted; the returned result is partial. For tests of resumption.
            progress: ``progress(done, total, message)``.
        """
        theta = self.layout.flatten(theta0) if isinstance(theta0, Mapping) else theta0
        theta = theta.detach().to(dtype=self.dtype, device=self.device).clone()
        if theta.ndim != 2 or theta.shape[1] != self.layout.dim:
            raise UserInputError(f"theta0 must have shape (C, {self.layout.dim}), got {tuple(theta.shape)}")
        C = theta.shape[0]
        ids = list(range(C)) if chain_ids is None else [int(c) for c in chain_ids]
        if len(ids) != C:
            raise UserInputError(f"chain_ids has {len(ids)} entries for {C} chains")
        steps = int(steps)
        if steps < 0:
            raise UserInputError("steps must be >= 0")
        noise = ChainNoise(self.noise_spec, seed, ids, self.block, self.dtype, self.device)
        n_rec = steps // self.record_every + 1
        rec_steps = torch.arange(n_rec, dtype=torch.int64) * self.record_every
        obs0 = self._observe(theta)
        records = {k: torch.full((n_rec, *v.shape), math.nan, dtype=v.dtype if v.is_floating_point() else torch.float64,
                                 device=self.device) for k, v in obs0.items()}
        records["loss"] = torch.full((n_rec, C), math.nan, dtype=self.dtype, device=self.device)
        for k, v in obs0.items():
            records[k][0] = v
        frozen = torch.zeros(C, dtype=torch.bool, device=self.device)
        frozen_at = torch.full((C,), -1, dtype=torch.int64)
        signature = {"name": name, "seed": int(seed), "chain_ids": ids, "steps": steps,
                     "record_every": self.record_every, "block": self.block, "dim": self.layout.dim,
                     "noise": {"/".join(k): [list(v.shape), v.kind] for k, v in self.noise_spec.items()},
                     "dtype": str(self.dtype)}
        start = 0
        if run_dir is not None:
            ck = run_dir.load_checkpoint()
            if ck is not None and ck[1].get("signature") == signature:
                tens, meta = ck
                start = int(meta["step"])
                theta = tens["theta"].to(dtype=self.dtype, device=self.device)
                frozen = tens["frozen"].to(torch.bool).to(self.device)
                frozen_at = tens["frozen_at"].to(torch.int64)
                for k in records:
                    records[k] = tens[f"rec.{k}"].to(self.device)
                noise.restore(tens["rng"], start)
                log.info("resuming %s at step %d", name, start)
        any_frozen = bool(frozen.any())
        losses = torch.full((C,), math.nan, dtype=self.dtype, device=self.device)
        report = max(1, steps // 100)
        end = steps if stop_after is None else min(steps, int(stop_after))
        # two parameter buffers (and their named views), written alternately: no per-step
        # allocation of θ and no per-step rebuilding of the views the gradient reads
        theta = theta.contiguous()
        bufs = [theta, torch.empty_like(theta)]
        views = [self.layout.unflatten(b) for b in bufs]
        cur = 0
        for t in range(start, end):
            new = bufs[1 - cur]
            losses = self._step(theta, views[cur], noise.draw(t), new)
            # a non-finite entry makes the total (and its row) sum non-finite: one scalar check per step
            if any_frozen or not math.isfinite(new.sum().item()):
                bad = ~torch.isfinite(new.sum(dim=1))
                newly = bad & ~frozen
                if bool(newly.any()):
                    frozen_at[newly.cpu()] = t + 1
                    log.warning("chains %s produced non-finite values at step %d; frozen",
                                [ids[i] for i in torch.nonzero(newly).flatten().tolist()], t + 1)
                frozen = frozen | bad
                any_frozen = True
                new.copy_(torch.where(frozen[:, None], theta, new))
            theta, cur = new, 1 - cur
            done = t + 1
            if done % self.record_every == 0:
                r = done // self.record_every
                for k, v in self._observe(theta).items():
                    records[k][r] = v
                records["loss"][r] = losses() if callable(losses) else losses
            if run_dir is not None and checkpoint_every and (done % checkpoint_every == 0 or done == end):
                self._checkpoint(run_dir, signature, done, theta, frozen, frozen_at, records, noise)
            if progress is not None and (done % report == 0 or done == end):
                progress(done, steps, name)
        result = SimResult(theta=theta, steps=rec_steps, records=records, frozen=frozen.cpu(),
                           frozen_at=frozen_at, chain_ids=ids, layout=self.layout)
        if run_dir is not None and end == steps:
            run_dir.save_arrays({k: v.detach().cpu().contiguous() for k, v in result.arrays().items()}, name=name)
        return result

    def _checkpoint(self, run_dir, signature, step, theta, frozen, frozen_at, records, noise) -> None:
        tensors = {"theta": theta.detach().cpu().contiguous(), "frozen": frozen.to(torch.uint8).cpu(),
                   "frozen_at": frozen_at.cpu(), "rng": noise.state_for(step)}
        tensors.update({f"rec.{k}": v.detach().cpu().contiguous() for k, v in records.items()})
        run_dir.save_checkpoint(tensors, {"signature": signature, "step": int(step)})
