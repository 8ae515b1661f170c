"""fashionret: fashion image retrieval experiments with PyTorch Lightning + Hydra.

Importing the package (any of its modules) registers the OmegaConf resolvers its configs use
(:mod:`fashionret.resolvers`: config glue over several layers, so it sits at the package root, above them all).
"""

from fashionret.resolvers import register_resolvers

register_resolvers()
