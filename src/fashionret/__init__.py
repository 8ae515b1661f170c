"""fashionret: fashion image retrieval experiments with PyTorch Lightning + Hydra.

Importing the package registers the OmegaConf resolvers its configs use (``conf/paths/default.yaml``).
"""

from fashionret.utils.resolvers import register_resolvers

register_resolvers()
