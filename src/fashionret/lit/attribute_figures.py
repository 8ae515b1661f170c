"""Figures of attribute-specific retrieval runs, drawn by :class:`fashionret.lit.callbacks.RetrievalFigures`:

* a per-attribute top-k grid (paper 002 Fig. 5: one query per attribute, its top-10 among that attribute's
  candidates, same value framed green);
* the ASA attention map of each of those queries for its attribute (paper 002 Fig. 7), when the model has
  ``attention_maps`` (AG-MAN / AG-MLAN with ASA, ASENet_V2; CSN has none).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from fashionret.eval import query_ranks
from fashionret.viz import gradcam_panel, retrieval_grid, select_queries, topk_gallery
from fashionret.viz.attention import attention_heatmaps
from fashionret.viz.grid import outcome

log = logging.getLogger(__name__)


def render_attribute_figures(
    pl_module, state: dict, query_ds, gallery_ds, out: Path, stage: str, *, num_queries: int, topk: int,
    selection: str, seed: int, thumb_size: tuple[int, int], similarity: str, names: list[str], attention: bool,
) -> tuple[list[Path], dict]:  # fmt: skip
    """Write ``retrieval_grid_<stage>.png`` (+ ``attention_<stage>.png``); return the files and W&B images."""
    q, g = state["query"], state["gallery"]
    rows, captions, index, q_rows, q_attrs = [], [], [], [], []
    attrs = torch.unique(q["groups"]).tolist()[:num_queries]
    for a in attrs:  # one query per attribute (Fig. 5), chosen among that attribute's queries with a match
        qa, ga = torch.nonzero(q["groups"] == a).squeeze(1), torch.nonzero(g["groups"] == a).squeeze(1)
        if ga.numel() == 0:
            continue
        ranks = query_ranks(
            q["embeddings"][qa], g["embeddings"][ga], q["labels"][qa], g["labels"][ga], similarity=similarity
        ).first_rank
        sel = select_queries(ranks, 1, topk, selection, seed + int(a))
        if not sel:
            continue
        i = int(qa[sel[0]])
        top, _ = topk_gallery(q["embeddings"][i : i + 1], g["embeddings"][ga], topk, similarity)
        top_rows = ga[top[0]]
        match = (g["labels"][top_rows] == q["labels"][i]).tolist()
        name = names[a] if 0 <= a < len(names) else str(a)
        r = int(ranks[sel[0]])
        qi = int(q["indices"][i])
        rows.append([gallery_ds.load_image(int(g["indices"][t])) for t in top_rows])
        captions.append(f"{name}: {sum(match)}/{len(match)} same value, first at rank {r}")
        q_rows.append(qi)
        q_attrs.append(a)
        index.append(
            {
                "attribute": name,
                "query": str(query_ds.table.path[qi]),
                "first_match_rank": r,
                "outcome": outcome(r, topk),
                "topk": [str(gallery_ds.table.path[int(g["indices"][t])]) for t in top_rows],
                "is_match": [bool(m) for m in match],
            }
        )
    if not rows:
        log.warning("RetrievalFigures: no attribute query with a candidate of its value; no figures")
        return [], {}
    queries = [query_ds.load_image(i) for i in q_rows]
    out.mkdir(parents=True, exist_ok=True)
    grid = retrieval_grid(queries, rows, [[bool(m) for m in e["is_match"]] for e in index], captions, None, thumb_size)
    written = [out / f"retrieval_grid_{stage}.png"]
    grid.save(written[0])
    images = {f"{stage}/retrieval_grid": (grid, f"query + attribute -> top-{topk}; green: same value")}
    model = pl_module.model
    if attention and callable(getattr(model, "attention_maps", None)) and getattr(model, "has_attention_maps", True):
        inputs = torch.stack([query_ds[i]["image"] for i in q_rows])
        maps = attention_heatmaps(model, inputs, torch.as_tensor(q_attrs))
        panel = gradcam_panel(queries, maps, captions=[e["attribute"] for e in index])
        written.append(out / f"attention_{stage}.png")
        panel.save(written[-1])
        np.save(out / f"attention_{stage}.npy", maps)
        images[f"{stage}/attention"] = (panel, "attribute-guided spatial attention (ASA) of each query")
    elif attention:
        log.info("RetrievalFigures: %s has no attention maps (no ASA); grid only", type(model).__name__)
    (out / f"figures_{stage}.json").write_text(json.dumps(index, indent=2))
    return written, images
