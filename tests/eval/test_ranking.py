"""retrieval_metrics / query_ranks against the brute-force NumPy reference (tests/eval/conftest.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fashionret.eval import query_ranks, retrieval_metrics
from fashionret.eval.ranking import SORT_THRESHOLD, _count_below

TOPK = (1, 2, 5, 10, 50)


def assert_metrics_equal(got: dict, want: dict) -> None:
    assert set(got) == set(want), set(got) ^ set(want)
    for key, val in want.items():
        if isinstance(val, int):
            assert got[key] == val, key
            assert isinstance(got[key], int), key
        elif math.isnan(val):
            assert math.isnan(got[key]), key
        else:
            assert got[key] == pytest.approx(val, rel=1e-12, abs=1e-12), key


def make_data(kind: str, similarity: str, n_q=40, n_g=70, seed=0):
    """Embeddings weakly tied to labels. Query labels range wider than gallery labels (some queries lack a
    match). "continuous": float64 Gaussians (no ties). "ties": exactly representable float32 values with many
    tied scores: small integers for euclidean; for cosine, 4 entries of +-2^e in 8 dims, whose norm is a power
    of two so normalised scores are exact multiples of 1/4."""
    gen = torch.Generator().manual_seed(seed)
    ql = torch.randint(0, 14, (n_q,), generator=gen)
    gl = torch.randint(0, 11, (n_g,), generator=gen)
    if kind == "continuous":
        centers = torch.randn(14, 6, generator=gen, dtype=torch.float64)
        q = torch.randn(n_q, 6, generator=gen, dtype=torch.float64) + centers[ql]
        g = torch.randn(n_g, 6, generator=gen, dtype=torch.float64) + centers[gl]
        return q, g, ql, gl
    if similarity == "euclidean":
        centers = torch.randint(-2, 3, (14, 3), generator=gen).float()
        q = centers[ql] + torch.randint(-1, 2, (n_q, 3), generator=gen).float()
        g = centers[gl] + torch.randint(-1, 2, (n_g, 3), generator=gen).float()
        return q, g, ql, gl

    def dyadic(n):
        x = torch.zeros(n, 8)
        for i in range(n):
            cols = torch.randperm(8, generator=gen)[:4]
            signs = torch.randint(0, 2, (4,), generator=gen) * 2 - 1
            x[i, cols] = signs.float() * 2.0 ** int(torch.randint(-1, 3, (1,), generator=gen))
        return x

    centers = dyadic(14)

    def sample(labels):
        x = dyadic(len(labels))
        copy = torch.rand(len(labels), generator=gen) < 0.4
        scale = 2.0 ** torch.randint(-2, 3, (len(labels), 1), generator=gen).float()
        return torch.where(copy.unsqueeze(1), centers[labels] * scale, x)

    return sample(ql), sample(gl), ql, gl


def count_ties(q, g, similarity):
    if similarity == "cosine":
        s = torch.nn.functional.normalize(q.double(), dim=1) @ torch.nn.functional.normalize(g.double(), dim=1).T
    else:
        s = -torch.cdist(q.double(), g.double())
    return sum(int(len(row) - len(torch.unique(row))) for row in s)


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
@pytest.mark.parametrize("kind", ["continuous", "ties"])
@pytest.mark.parametrize("chunk_size", [1, 7, 40, 1000, None])
def test_matches_reference(similarity, kind, chunk_size, reference):
    q, g, ql, gl = make_data(kind, similarity)
    if kind == "ties":
        assert count_ties(q, g, similarity) > 100  # the data really exercises the tie rule
    got = retrieval_metrics(q, g, ql, gl, topk=TOPK, similarity=similarity, chunk_size=chunk_size)
    want = reference(q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), topk=TOPK, similarity=similarity)
    assert want["num_queries_without_match"] > 0
    assert 0 < want["top1"] < want["top10"] < 1
    assert_metrics_equal(got, want)


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
@pytest.mark.parametrize("include", [False, True])
def test_groups_and_queries_without_match(similarity, include, reference):
    q, g, ql, gl = make_data("ties", similarity, seed=3)
    groups = ql % 3
    names = ["tops", "trousers", "dresses"]
    got = retrieval_metrics(
        q, g, ql, gl, topk=TOPK, similarity=similarity, query_groups=groups, group_names=names,
        include_queries_without_match=include, chunk_size=5,
    )  # fmt: skip
    want = reference(
        q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), topk=TOPK, similarity=similarity,
        groups=groups.numpy(), group_names=names, include=include,
    )  # fmt: skip
    assert "group/dresses/top1" in want
    assert_metrics_equal(got, want)
    # without names, ids are used
    got_ids = retrieval_metrics(
        q,
        g,
        ql,
        gl,
        topk=TOPK,
        similarity=similarity,
        query_groups=groups,
        include_queries_without_match=include,
    )
    assert got_ids["group/2/mAP"] == got["group/dresses/mAP"]


def test_include_flag_counts_misses():
    q, g, ql, gl = make_data("continuous", "cosine")
    excl = retrieval_metrics(q, g, ql, gl)
    incl = retrieval_metrics(q, g, ql, gl, include_queries_without_match=True)
    n_with, n_without = excl["num_queries"], excl["num_queries_without_match"]
    assert n_without > 0 and incl["num_queries"] == n_with + n_without == len(q)
    assert incl["num_queries_without_match"] == n_without
    assert incl["mAP"] == pytest.approx(excl["mAP"] * n_with / (n_with + n_without))
    assert incl["top5"] == pytest.approx(excl["top5"] * n_with / (n_with + n_without))


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
@pytest.mark.parametrize(("col_block", "sort_threshold"), [(3, 96), (1000, 0), (5, 2), (64, 1)])
def test_engine_paths_per_query(similarity, col_block, sort_threshold, reference_ranks):
    """Column blocking and the sort path (for queries with many relevant items) give the same ranks."""
    q, g, ql, gl = make_data("ties", similarity, n_q=30, n_g=90, seed=5)
    ql = ql % 4  # few classes: many relevant items per query
    gl = gl % 5
    res = query_ranks(
        q, g, ql, gl, similarity=similarity, chunk_size=4, col_block=col_block, sort_threshold=sort_threshold
    )
    first, ap, _ = reference_ranks(q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), similarity)
    assert int(res.num_relevant.max()) > 10
    np.testing.assert_array_equal(res.first_rank.numpy(), first)
    np.testing.assert_allclose(res.ap.numpy(), ap, rtol=1e-12, atol=0)


def test_default_sort_path_large_classes(reference):
    """R > SORT_THRESHOLD relevant items per query uses the sorting counter with default settings."""
    gen = torch.Generator().manual_seed(1)
    n_g = 2 * SORT_THRESHOLD + 100
    q = torch.randint(-3, 4, (25, 4), generator=gen).float()
    g = torch.randint(-3, 4, (n_g, 4), generator=gen).float()
    ql = torch.randint(0, 3, (25,), generator=gen)
    gl = torch.randint(0, 2, (n_g,), generator=gen)
    assert int((gl == 0).sum()) > SORT_THRESHOLD and int((gl == 1).sum()) > SORT_THRESHOLD
    got = retrieval_metrics(q, g, ql, gl, topk=TOPK, similarity="euclidean", chunk_size=6)
    want = reference(q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), topk=TOPK, similarity="euclidean")
    assert_metrics_equal(got, want)


def test_tie_rule_by_hand():
    """Gallery scores for the query: item0 (relevant) 1.0, item1 (non-relevant) 1.0, item2 (relevant) 0.0."""
    q = torch.tensor([[1.0, 0.0]])
    g = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    ql = torch.tensor([7])
    gl = torch.tensor([7, 3, 7, 3])
    res = retrieval_metrics(q, g, ql, gl, topk=(1, 2, 3))
    # pessimistic order: item1, item0, item2, item3 -> relevant ranks 2 and 3
    assert res["top1"] == 0.0 and res["top2"] == 1.0
    assert res["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # two relevant items tied with each other (and nothing else): ranks 1 and 2, AP = 1
    res2 = retrieval_metrics(q, g[[0, 1, 3]] * torch.tensor([[1.0], [-1.0], [1.0]]), ql, torch.tensor([7, 3, 7]))
    assert res2["top1"] == 1.0 and res2["mAP"] == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_constant_embeddings_are_not_lucky():
    q = torch.ones(5, 4)
    g = torch.ones(6, 4)
    ql = torch.arange(5)
    gl = torch.tensor([0, 1, 2, 3, 4, 9])
    res = retrieval_metrics(q, g, ql, gl, topk=(1, 5, 6))
    assert res["top1"] == 0.0 and res["top5"] == 0.0 and res["top6"] == 1.0  # every item ties: rank 6
    assert res["mAP"] == pytest.approx(1 / 6)


def test_k_larger_than_gallery_is_clamped():
    q, g, ql, gl = make_data("continuous", "euclidean", n_q=10, n_g=4)
    res = retrieval_metrics(q, g, ql, gl, topk=(1, 4, 1000), similarity="euclidean")
    assert res["num_queries"] > 0
    assert res["top4"] == 1.0 and res["top1000"] == 1.0


def test_all_queries_without_match_gives_nan():
    res = retrieval_metrics(torch.randn(3, 4), torch.randn(5, 4), torch.tensor([1, 2, 3]), torch.zeros(5).long())
    assert res["num_queries"] == 0 and res["num_queries_without_match"] == 3
    assert math.isnan(res["top1"]) and math.isnan(res["mAP"])


def test_dtypes_and_devices_of_inputs():
    q, g, ql, gl = make_data("ties", "euclidean")
    base = retrieval_metrics(q, g, ql, gl, similarity="euclidean")
    assert retrieval_metrics(q.half(), g.half(), ql.int(), gl.short(), similarity="euclidean") == base
    assert retrieval_metrics(q.long(), g.long(), ql, gl, similarity="euclidean") == base
    assert retrieval_metrics(q.double(), g.double(), ql, gl, similarity="euclidean") == base


def test_permutation_invariance():
    q, g, ql, gl = make_data("ties", "cosine", seed=11)
    base = retrieval_metrics(q, g, ql, gl, topk=TOPK)
    pg = torch.randperm(len(g), generator=torch.Generator().manual_seed(0))
    pq = torch.randperm(len(q), generator=torch.Generator().manual_seed(1))
    assert retrieval_metrics(q[pq], g[pg], ql[pq], gl[pg], topk=TOPK, chunk_size=3) == pytest.approx(base)


GOOD = (torch.randn(4, 3), torch.randn(6, 3), torch.arange(4), torch.arange(6))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({0: torch.randn(4, 5)}, "embedding dimensions differ"),
        ({2: torch.arange(3)}, "query_labels has 3 entries"),
        ({3: torch.arange(7)}, "gallery_labels has 7 entries"),
        ({0: torch.empty(0, 3), 2: torch.arange(0)}, "query_emb is empty"),
        ({1: torch.empty(0, 3), 3: torch.arange(0)}, "gallery_emb is empty"),
        ({0: torch.tensor([[1.0, float("nan"), 0.0]] * 4)}, "NaN or inf"),
        ({1: torch.full((6, 3), float("inf"))}, "NaN or inf"),
        ({0: torch.randn(4)}, "must be 2-D"),
        ({2: torch.rand(4)}, "integer dtype"),
        ({1: torch.full((6, 3), 1e20)}, "too large"),
    ],
)
def test_bad_input(change, match):
    args = list(GOOD)
    for i, v in change.items():
        args[i] = v
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(*args, similarity="euclidean")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"similarity": "dot"}, "similarity"),
        ({"topk": (0, 5)}, "topk"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"query_groups": torch.zeros(3).long()}, "query_groups"),
        ({"query_groups": torch.tensor([0, 1, 2, 3]), "group_names": ["a", "b"]}, "group_names"),
        ({"group_names": ["a"]}, "without query_groups"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(*GOOD, **kwargs)


def test_count_below_signed_zeros_and_extremes():
    s = torch.tensor([[-0.0, 0.0, 1.0, -1.0, 3e38, -3e38, 1e-45, -1e-45]])
    thresholds = torch.tensor([[0.0, -0.0, 1e-45, -1e-45, 3e38]])
    want = (s.unsqueeze(1) < thresholds.unsqueeze(2)).sum(2)
    assert want.tolist() == [[3, 3, 5, 2, 7]]
    for col_block in (1, 3, 8):
        assert torch.equal(_count_below(s, thresholds, col_block, 64), want)
    got64 = _count_below(s.double(), thresholds.double(), 8, 1 << 20)
    assert torch.equal(got64, want)


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_zero_vectors(similarity, reference):
    """Zero embeddings (all-zero cosine scores, possibly signed zeros) follow the tie rule."""
    q, g, ql, gl = make_data("ties", similarity, seed=8)
    q[::4] = 0.0
    g[::3] = 0.0
    got = retrieval_metrics(q, g, ql, gl, topk=TOPK, similarity=similarity, chunk_size=9)
    want = reference(q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), topk=TOPK, similarity=similarity)
    assert_metrics_equal(got, want)


def test_score_matrix_never_exceeds_one_chunk(monkeypatch):
    from fashionret.eval import ranking

    shapes = []
    real = ranking._score_fn

    def spy(q, g, similarity):
        prepare, product, finish = real(q, g, similarity)

        def spied_product(qb):
            out = product(qb)
            shapes.append(tuple(out.shape))
            return out

        return prepare, spied_product, finish

    monkeypatch.setattr(ranking, "_score_fn", spy)
    q, g, ql, gl = make_data("continuous", "cosine")
    base = retrieval_metrics(q, g, ql, gl, chunk_size=1000)
    assert retrieval_metrics(q, g, ql, gl, chunk_size=6) == pytest.approx(base)
    n_valid = base["num_queries"]
    assert shapes[0] == (n_valid, len(g))  # only queries with a match are scored
    assert max(s[0] for s in shapes[1:]) == 6 and sum(s[0] for s in shapes[1:]) == n_valid
    # default chunk from the memory budget
    monkeypatch.setitem(ranking.CHUNK_BUDGET_BYTES, "cpu", 8 * len(g) * 5)  # float64 scores
    shapes.clear()
    retrieval_metrics(q, g, ql, gl)
    assert max(s[0] for s in shapes) == 5


def test_thread_setting_restored(monkeypatch):
    from fashionret.eval import ranking

    before = torch.get_num_threads()
    seen = []
    real = ranking._ranks_of_chunk

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(ranking, "_ranks_of_chunk", spy)
    q, g, ql, gl = make_data("continuous", "cosine")
    retrieval_metrics(q, g, ql, gl, chunk_size=10)
    assert torch.get_num_threads() == before
    assert seen and all(n == (ranking.CPU_SMALL_OP_THREADS or before) for n in seen)
