"""Synthetic datasets written in the official on-disk layouts (fixtures and the demo)."""

from fashionret.data.synth.writers import FORMATS, ensure_synthetic, synthesize

__all__ = ["FORMATS", "ensure_synthetic", "synthesize"]
