"""Losses of AG-MAN / AG-MLAN besides the triplet loss: the attribute classification loss (paper 002 eq. 7) and
the dynamic weighted sum of the two losses (paper 002 eq. 9; paper 003 eq. 9)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

log = logging.getLogger(__name__)

FORMS = ("exp", "linear")
ON_THROTTLE = ("stop", "warn")


class LossThrottledError(RuntimeError):
    """A learned loss coefficient of eq. 9 fell so far that it throttles training."""


def attribute_classification_loss(logits: Tensor, attr: Tensor) -> Tensor:
    """Eq. 7: ``L_c = -w_a [y_a log σ(x_a) + (1 - y_a) log(1 - σ(x_a))]``, averaged over images and classes.

    ``y`` is the one-hot vector of the image's attribute (all images annotated with an attribute form one class,
    whatever their value; Fig. 2) and ``w_a = 1`` (the papers give no class weights; the official code uses
    ``BCEWithLogitsLoss`` without weights, averaged over the anchor, positive and negative images).
    """
    target = F.one_hot(attr.long(), logits.shape[1]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target)


def classification_floor(images, attrs, n_attributes: int) -> tuple[float, float]:
    """The lowest eq. 7 BCE a model can reach on training rows ``(image, attribute)``, and the BCE of predicting
    the attribute frequencies without looking at the image: ``(floor, blind)``.

    An image annotated with several attributes is trained toward each of them in turn, so the best prediction
    for attribute ``c`` is the share of the image's rows that carry ``c``; the floor is the mean binary entropy of
    those shares. When every image carries every attribute the target does not depend on the image and
    ``floor == blind`` (``h(1/3) = 0.637`` for 3 attributes): the branch cannot learn anything.
    """
    import numpy as np

    def h(p):
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
        return -(p * np.log(p) + (1 - p) * np.log(1 - p))

    images, attrs = np.asarray(images), np.asarray(attrs, dtype=np.int64)
    _, img = np.unique(images, return_inverse=True)
    counts = np.zeros((img.max() + 1, n_attributes))
    np.add.at(counts, (img, attrs), 1.0)
    share = counts / counts.sum(axis=1, keepdims=True)  # per image: its rows' attribute shares
    rows = counts.sum(axis=1)
    floor = float((rows * h(share).mean(axis=1)).sum() / rows.sum())
    blind = float(h(np.bincount(attrs, minlength=n_attributes) / len(attrs)).mean())
    return floor, blind


class DynamicWeightedLoss(nn.Module):
    """Learned weighting of several losses.

    ``form="exp"`` — paper 002 eq. 9: ``L = sum_i 0.5 * exp(w_i) * L_i + w_i`` with ``w_i`` initialised to 0
    (``init``); with ``terms=("classification", "triplet")``, ``w_0`` weighs ``L_c`` and ``w_1`` ``L_triplet``.
    ``form="linear"`` — paper 003 eq. 9 as printed: ``L = sum_i w_i * L_i`` (``init`` 1). Both are learned with the
    model's optimiser (``learn=false`` freezes them at ``init``; the released AG-MAN code never passes its
    weights to the optimiser, which amounts to ``learn=false, init=1``). A term missing from the dict passed to
    :meth:`forward` (a switched-off branch) contributes nothing, not even its ``w_i``.

    Neither form has a minimum in ``w`` (the ``+ w_i`` regulariser of eq. 9 pulls ``w_i`` down while
    ``0.5 exp(w_i) L_i`` stays positive; the linear form is unbounded below): learned with Adam, both
    coefficients fall by about 0.6 in ``w`` per epoch (measured) to ~1e-7 within 50 epochs, and the total loss
    falls only because they do while the gradients reaching the network vanish. The released AG-MAN code builds
    ``AutomaticWeightedLoss(2)`` but gives only the network's parameters to Adam: its coefficients stay at their
    start, ``0.5 / p^2 = 0.5`` for each loss. The configs therefore default to ``learn=false, init=0`` (exp form:
    ``0.5 L_c + 0.5 L_triplet``, what produced the published numbers); ``learn=true`` is the printed form, and
    then a coefficient that falls below ``throttle_ratio`` times its start stops the run
    (``on_throttle=stop``, :class:`LossThrottledError`) or warns once (``on_throttle=warn``).
    """

    def __init__(
        self,
        terms: Sequence[str] = ("classification", "triplet"),
        form: str = "exp",
        init: float | None = None,
        learn: bool = True,
        throttle_ratio: float = 0.1,
        on_throttle: str = "stop",
    ):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        self.terms, self.form = tuple(terms), form
        start = (0.0 if form == "exp" else 1.0) if init is None else float(init)
        self.weights = nn.Parameter(torch.full((len(self.terms),), start), requires_grad=learn)
        if on_throttle not in ON_THROTTLE:
            raise ValueError(f"on_throttle must be one of {ON_THROTTLE}, got {on_throttle!r}")
        self.throttle_ratio, self.on_throttle = float(throttle_ratio), on_throttle
        self._start = self.coefficients()
        self._warned = False

    def forward(self, losses: Mapping[str, Tensor]) -> Tensor:
        unknown = sorted(set(losses) - set(self.terms))
        if unknown:
            raise ValueError(f"DynamicWeightedLoss weighs {self.terms}; got unknown terms {unknown}")
        total = torch.zeros((), device=self.weights.device)
        for i, name in enumerate(self.terms):
            if name not in losses:
                continue
            w = self.weights[i]
            total = total + (0.5 * torch.exp(w) * losses[name] + w if self.form == "exp" else w * losses[name])
        if self.weights.requires_grad and self.training:
            self.check_throttle()
        return total

    def check_throttle(self) -> None:
        """Stop (or warn once) when a learned coefficient has fallen below ``throttle_ratio`` of its start."""
        now = self.coefficients()
        low = {k: v for k, v in now.items() if abs(v) < self.throttle_ratio * abs(self._start[k])}
        if not low or self._warned:
            return
        name, value = next(iter(low.items()))
        msg = (
            f"eq. 9's learned weight of the {name} loss has fallen from {self._start[name]:.3g} to {value:.3g} "
            f"(below throttle_ratio={self.throttle_ratio} of its start), which throttles training as the printed "
            "form has no minimum; use lit.loss_weighting.learn=false (constant weights, as the authors' code) or "
            "lit.loss_weighting.on_throttle=warn to go on"
        )
        if self.on_throttle == "stop":
            raise LossThrottledError(msg)
        log.warning(msg)
        self._warned = True

    def coefficients(self) -> dict[str, float]:
        """The current multiplier of each loss (``0.5 exp(w_i)`` or ``w_i``), for logging."""
        w = self.weights.detach()
        c = 0.5 * torch.exp(w) if self.form == "exp" else w
        return {name: float(v) for name, v in zip(self.terms, c)}
