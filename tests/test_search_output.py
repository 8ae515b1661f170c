"""Search output reads at a glance: captions tell queries apart, rank and score stand apart in the grid."""

from __future__ import annotations

import numpy as np

from fashionret.viz.grid import distinct_captions, retrieval_grid


def test_captions_are_the_shortest_suffixes_that_differ():
    paths = ["/d/Img/WOMEN/id_01/01_2_side.jpg", "/d/Img/MEN/id_02/01_2_side.jpg", "/d/Img/MEN/id_02/01_1_front.jpg"]
    assert distinct_captions(paths) == ["id_01/01_2_side.jpg", "id_02/01_2_side.jpg", "id_02/01_1_front.jpg"]
    assert distinct_captions(["/a/x.jpg", "/b/y.jpg"]) == ["x.jpg", "y.jpg"]
    assert distinct_captions(["/a/x.jpg", "/a/x.jpg"]) == ["x.jpg", "x.jpg"]  # the same file twice
    long = distinct_captions(["/" + "a" * 80 + "/x.jpg", "/" + "b" * 80 + "/x.jpg"], max_chars=20)
    assert all(len(c) == 20 and c.startswith("...") for c in long) and long[0] != long[1]


def _caption_ink(grid, cell: int, thumb_w: int, frame: int = 4, gap: int = 6, cap_h: int = 12) -> np.ndarray:
    """Columns of the first row's caption strip above result ``cell`` (1 = first result) holding dark pixels."""
    a = np.asarray(grid.convert("L"))
    cell_w = thumb_w + 2 * frame + gap
    x0 = gap + cell * cell_w
    strip = a[gap : gap + cap_h, x0 : x0 + thumb_w + 2 * frame]
    return (strip < 128).any(axis=0)


def test_rank_and_score_are_drawn_apart():
    img = np.full((20, 10, 3), 128, dtype=np.uint8)
    kw = {"thumb_size": (60, 96)}
    grid = retrieval_grid([img], [[img, img]], [[True, False]], cell_captions=[["#1", "#2"]], **kw)
    scored = retrieval_grid(
        [img], [[img, img]], [[True, False]], cell_captions=[["#1", "#2"]], cell_scores=[[0.893, 0.5]], **kw
    )
    plain, both = _caption_ink(grid, 1, 96), _caption_ink(scored, 1, 96)
    assert plain.any() and both.sum() > plain.sum()  # the score was drawn
    ink = np.flatnonzero(both)
    rank_end = np.flatnonzero(plain).max()
    score_start = ink[ink > rank_end].min()
    assert score_start - rank_end > 20  # a clear gap: "#1" at the left, "0.893" at the right
