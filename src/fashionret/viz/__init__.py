"""Figures of retrieval runs: query -> top-k grids (paper 000 Fig. 6) and Grad-CAM maps (paper 000 Fig. 7).

Pure functions of embeddings, images and an ``nn.Module``; the Lightning callback that feeds them lives in
:mod:`fashionret.lit.callbacks`.
"""

from fashionret.viz.gradcam import gradcam_maps, gradcam_panel, resolve_target_layers
from fashionret.viz.grid import retrieval_grid, select_queries, topk_gallery

__all__ = [
    "gradcam_maps",
    "gradcam_panel",
    "resolve_target_layers",
    "retrieval_grid",
    "select_queries",
    "topk_gallery",
]
