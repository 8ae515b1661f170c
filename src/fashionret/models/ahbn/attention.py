"""Channel attention for the two AHBN branches (paper 001 §III-D, eq. 3-8, Fig. 3, Algorithm 1 ``CoATTEN``)."""

from __future__ import annotations

import torch
from torch import nn

GATES = ("sigmoid", "softmax")


def _gate(logits: torch.Tensor, gate: str) -> torch.Tensor:
    """Sigmoid (eq. 5-6) or, for Table I "+ Softmax", a softmax over the channels of one branch."""
    return torch.sigmoid(logits) if gate == "sigmoid" else torch.softmax(logits, dim=1)


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


def _hidden(channels: int, reduction: int) -> int:
    return max(8, channels // reduction)


class ChannelCoAttention(nn.Module):
    """Mutually guided channel weights (eq. 3-8): both branches' global average pools are concatenated
    (``v^a (+) v^l``, eq. 3-4) and each branch's weights come from its own two-layer MLP over that joint vector
    (eq. 5-6); each map is rescaled by its weights (eq. 7-8).

    ``k^a`` and ``k^l`` (the projection widths) are not given in the paper: ``C^a / reduction`` and
    ``C^l / reduction`` (at least 8) with ``reduction=16`` as in the SE block the paper compares with.
    The biases the paper omits from its equations are kept (ordinary linear layers).
    """

    def __init__(self, channels_a: int, channels_l: int, reduction: int = 16, gate: str = "sigmoid"):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"model.attention_gate must be one of {GATES}, got {gate!r}")
        c = channels_a + channels_l
        self.mlp_a = _mlp(c, _hidden(channels_a, reduction), channels_a)
        self.mlp_l = _mlp(c, _hidden(channels_l, reduction), channels_l)
        self.gate = gate
        self.last_weights: tuple[torch.Tensor, torch.Tensor] | None = None

    def weights(self, va: torch.Tensor, vl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        joint = torch.cat([va.mean(dim=(2, 3)), vl.mean(dim=(2, 3))], dim=1)
        return _gate(self.mlp_a(joint), self.gate), _gate(self.mlp_l(joint), self.gate)

    def forward(self, va: torch.Tensor, vl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha_a, alpha_l = self.weights(va, vl)
        self.last_weights = (alpha_a.detach(), alpha_l.detach())
        return va * alpha_a[:, :, None, None], vl * alpha_l[:, :, None, None]


class SeparateChannelAttention(nn.Module):
    """Table I "+ Sepa. Atten.": one self-guided SE-style block per branch (each MLP sees only its own branch's
    pool), same widths and gate as :class:`ChannelCoAttention`."""

    def __init__(self, channels_a: int, channels_l: int, reduction: int = 16, gate: str = "sigmoid"):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"model.attention_gate must be one of {GATES}, got {gate!r}")
        self.mlp_a = _mlp(channels_a, _hidden(channels_a, reduction), channels_a)
        self.mlp_l = _mlp(channels_l, _hidden(channels_l, reduction), channels_l)
        self.gate = gate

    def forward(self, va: torch.Tensor, vl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        alpha_a = _gate(self.mlp_a(va.mean(dim=(2, 3))), self.gate)
        alpha_l = _gate(self.mlp_l(vl.mean(dim=(2, 3))), self.gate)
        return va * alpha_a[:, :, None, None], vl * alpha_l[:, :, None, None]
