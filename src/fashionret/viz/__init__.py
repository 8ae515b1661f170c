"""Figures of retrieval runs: query -> top-k grids (paper 000 Fig. 6) and Grad-CAM maps (paper 000 Fig. 7).

Pure functions of embeddings, images and an ``nn.Module``; the Lightning callback that feeds them lives in
:mod:`fashionret.lit.callbacks`.
"""

from typing import TYPE_CHECKING

from fashionret.utils.lazy import lazy_exports

#: name -> the submodule that defines it, imported on first use (search's grid needs no Grad-CAM)
_EXPORTS = {
    "gradcam_maps": "fashionret.viz.gradcam",
    "gradcam_panel": "fashionret.viz.gradcam",
    "resolve_target_layers": "fashionret.viz.gradcam",
    "retrieval_grid": "fashionret.viz.grid",
    "select_queries": "fashionret.viz.grid",
    "topk_gallery": "fashionret.viz.grid",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
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
