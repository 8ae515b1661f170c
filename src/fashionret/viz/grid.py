"""Query -> top-k retrieval grids (paper 000 Fig. 6: "green box indicates the corresponding shop image")."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

MATCH = (0, 170, 0)  # green frame: a true match (paper 000 Fig. 6)
MISS = (200, 200, 200)
QUERY = (40, 90, 200)
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)

# paper 000 §IV-I sorts example queries into best (match at rank 1), good (within the top 3) and bad (not)
OUTCOMES = ("best", "good", "bad")


def topk_gallery(
    query_emb: torch.Tensor, gallery_emb: torch.Tensor, k: int, similarity: str = "cosine"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(indices [Q, k], scores [Q, k])`` of the ``k`` best gallery items per query (few queries only).

    Scores as the ranking engine computes them: cosine similarity, or negative squared distance. Ties are
    broken by gallery position (a figure, not a metric; the metrics use :mod:`fashionret.eval`).
    """
    q, g = query_emb.float(), gallery_emb.float()
    if similarity == "cosine":
        scores = F.normalize(q, dim=1) @ F.normalize(g, dim=1).T
    elif similarity == "euclidean":
        scores = -torch.cdist(q, g).pow(2)
    else:
        raise ValueError(f"similarity must be 'cosine' or 'euclidean', got {similarity!r}")
    k = min(k, g.shape[0])
    top = torch.topk(scores, k, dim=1, sorted=True)
    return top.indices, top.values


def outcome(first_rank: int, k: int) -> str:
    """``best`` (true match at rank 1), ``good`` (within the top ``k``) or ``bad``."""
    return "best" if first_rank == 1 else ("good" if 1 < first_rank <= k else "bad")


def select_queries(
    first_rank: Sequence[int] | torch.Tensor, num: int, k: int = 3, mode: str = "stratified", seed: int = 0
) -> list[int]:
    """Positions of ``num`` queries to show.

    ``stratified`` takes about a third each of best / good / bad queries (paper 000 Fig. 6's rows), filling
    from the other outcomes when one is short, in that order; ``random`` draws uniformly; ``first`` takes the
    first ``num``. Queries without a match (rank 0) are never chosen. Deterministic for a given ``seed``.
    """
    ranks = np.asarray(torch.as_tensor(first_rank).cpu(), dtype=np.int64)
    valid = np.flatnonzero(ranks > 0)
    num = min(num, len(valid))
    if num <= 0:
        return []
    rng = np.random.default_rng(seed)
    if mode == "first":
        return valid[:num].tolist()
    if mode == "random":
        return sorted(rng.choice(valid, size=num, replace=False).tolist())
    if mode != "stratified":
        raise ValueError(f"mode must be 'stratified', 'random' or 'first', got {mode!r}")
    pools = {o: [int(i) for i in valid if outcome(int(ranks[i]), k) == o] for o in OUTCOMES}
    for o in OUTCOMES:
        rng.shuffle(pools[o])
    chosen: list[int] = []
    share = [num // 3 + (1 if j < num % 3 else 0) for j in range(3)]
    for o, s in zip(OUTCOMES, share):
        chosen += pools[o][:s]
        pools[o] = pools[o][s:]
    for o in OUTCOMES:  # fill up from whatever is left
        while len(chosen) < num and pools[o]:
            chosen.append(pools[o].pop(0))
    order = {o: j for j, o in enumerate(OUTCOMES)}
    return sorted(chosen, key=lambda i: (order[outcome(int(ranks[i]), k)], int(ranks[i]), i))


def distinct_captions(paths: Sequence[str], max_chars: int = 48) -> list[str]:
    """Captions that tell images apart: the shortest path suffix (whole components) that differs between the
    distinct paths (``id_00000023/01_2_side.jpg`` where every basename is ``01_2_side.jpg``), cut from the left
    to ``max_chars``."""
    parts = [PurePath(str(p)).parts for p in paths]
    distinct = len(set(parts))
    longest = max((len(p) for p in parts), default=1)
    n = 1
    while n < longest and len({p[-n:] for p in parts}) < distinct:
        n += 1
    caps = ["/".join(p[-n:]) for p in parts]
    return [c if len(c) <= max_chars else "..." + c[-(max_chars - 3) :] for c in caps]


def _thumb(image: np.ndarray | Image.Image, size: tuple[int, int]) -> Image.Image:
    """Letterbox an RGB image into ``size = (height, width)``."""
    im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    im = im.convert("RGB")
    h, w = size
    scale = min(w / im.width, h / im.height)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
    canvas = Image.new("RGB", (w, h), BACKGROUND)
    canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2))
    return canvas


def retrieval_grid(
    queries: Sequence[np.ndarray | Image.Image],
    retrieved: Sequence[Sequence[np.ndarray | Image.Image]],
    is_match: Sequence[Sequence[bool]],
    row_captions: Sequence[str] | None = None,
    cell_captions: Sequence[Sequence[str]] | None = None,
    thumb_size: tuple[int, int] = (128, 96),
    frame: int = 4,
    cell_scores: Sequence[Sequence[float]] | None = None,
) -> Image.Image:
    """One row per query: the query (blue frame) then its top-k gallery images in rank order, true matches
    framed green (paper 000 Fig. 6), others grey. Captions go above each row / cell; with ``cell_scores`` each
    result's caption is its rank at the left and its score at the right of the cell, apart."""
    if not (len(queries) == len(retrieved) == len(is_match)):
        raise ValueError("queries, retrieved and is_match must have one entry per query")
    rows = len(queries)
    cols = 1 + max((len(r) for r in retrieved), default=0)
    th, tw = thumb_size
    font = ImageFont.load_default()
    cap_h, gap = 12, 6
    cell_w, cell_h = tw + 2 * frame + gap, th + 2 * frame + cap_h + gap
    row_h = cell_h + (cap_h if row_captions else 0)
    grid = Image.new("RGB", (max(1, cols * cell_w + gap), max(1, rows * row_h + gap)), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for r in range(rows):
        y0 = gap + r * row_h
        if row_captions:
            draw.text((gap, y0), row_captions[r], fill=TEXT, font=font)
            y0 += cap_h
        cells = [(queries[r], QUERY, "query")]
        for j, img in enumerate(retrieved[r]):
            cap = cell_captions[r][j] if cell_captions else f"#{j + 1}" + (" match" if is_match[r][j] else "")
            score = f"{cell_scores[r][j]:.3f}" if cell_scores is not None else None
            cells.append((img, MATCH if is_match[r][j] else MISS, cap, score))
        for c, (img, colour, cap, *score) in enumerate(cells):
            x0 = gap + c * cell_w
            draw.text((x0, y0), cap, fill=TEXT, font=font)
            if score and score[0] is not None:  # right-aligned in the cell: never run into the rank
                right = x0 + tw + 2 * frame - draw.textlength(score[0], font=font)
                draw.text((right, y0), score[0], fill=TEXT, font=font)
            draw.rectangle([x0, y0 + cap_h, x0 + tw + 2 * frame - 1, y0 + cap_h + th + 2 * frame - 1], fill=colour)
            grid.paste(_thumb(img, thumb_size), (x0 + frame, y0 + cap_h + frame))
    return grid
