"""faiss_retrieval_metrics (the faiss backend, a layer above the engine) against the exact engine and the
NumPy reference (skipped only if faiss is missing)."""

from __future__ import annotations

import pytest
import torch

from fashionret.eval import retrieval_metrics

pytest.importorskip("faiss", reason="faiss not installed (optional extra `faiss`)")

from fashionret.eval.faiss_backend import faiss_retrieval_metrics

TOPK = (1, 5, 10, 30)


def make_data(seed=0, n_q=120, n_g=400, dim=16):
    gen = torch.Generator().manual_seed(seed)
    ql = torch.randint(0, 60, (n_q,), generator=gen)
    gl = torch.randint(0, 50, (n_g,), generator=gen)
    centers = torch.randn(60, dim, generator=gen)
    q = centers[ql] + torch.randn(n_q, dim, generator=gen)
    g = centers[gl] + torch.randn(n_g, dim, generator=gen)
    return q, g, ql, gl


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
@pytest.mark.parametrize("include", [False, True])
def test_faiss_matches_exact_engine(similarity, include, reference):
    q, g, ql, gl = make_data()
    groups = ql % 4
    kw = dict(topk=TOPK, similarity=similarity, query_groups=groups, include_queries_without_match=include)
    got = faiss_retrieval_metrics(q, g, ql, gl, **kw)
    exact = retrieval_metrics(q, g, ql, gl, **kw)
    assert "mAP" not in got and "mAP@30" in got
    for key, val in exact.items():
        if "mAP" in key:
            continue
        assert got[key] == val, key
    want = reference(
        q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), topk=TOPK, similarity=similarity,
        groups=groups.numpy(), include=include, map_depth=30,
    )  # fmt: skip
    assert set(got) == set(want)
    for key, val in want.items():
        assert got[key] == pytest.approx(val, rel=1e-12), key
    # truncated AP is a lower bound of the exact AP, strictly below it here (some relevant items rank > 30)
    assert got["mAP@30"] < exact["mAP"]


def test_faiss_depth_covering_gallery_equals_exact_map():
    q, g, ql, gl = make_data(seed=1, n_g=40)
    got = faiss_retrieval_metrics(q, g, ql, gl, topk=(1, 5, 100))
    exact = retrieval_metrics(q, g, ql, gl, topk=(1, 5, 100))
    assert got["mAP@40"] == pytest.approx(exact["mAP"], rel=1e-12)  # depth clamped to G = 40
    assert got["top1"] == exact["top1"] and got["top100"] == exact["top100"] == 1.0


def test_faiss_rejects_bad_input():
    q, g, ql, gl = make_data()
    with pytest.raises(ValueError, match="NaN or inf"):
        faiss_retrieval_metrics(q * float("nan"), g, ql, gl)
    with pytest.raises(ValueError, match="non-empty topk"):
        faiss_retrieval_metrics(q, g, ql, gl, topk=())


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_faiss_tie_rule_with_full_depth(similarity, reference):
    """Exactly tied scores (many equal vectors, other labels): the pessimistic rule within faiss's list."""
    gen = torch.Generator().manual_seed(7)
    n_q, n_g = 50, 80
    if similarity == "cosine":  # +-2^e times a unit vector: normalises exactly, scores in {-1, 0, 1}

        def vecs(n):
            x = torch.zeros(n, 4)
            x[torch.arange(n), torch.randint(0, 4, (n,), generator=gen)] = 1.0
            sign = torch.randint(0, 2, (n, 1), generator=gen) * 2 - 1
            return x * sign * 2.0 ** torch.randint(-2, 3, (n, 1), generator=gen)
    else:

        def vecs(n):
            return torch.randint(-2, 3, (n, 3), generator=gen).float()

    q, g = vecs(n_q), vecs(n_g)
    ql = torch.randint(0, 12, (n_q,), generator=gen)
    gl = torch.randint(0, 10, (n_g,), generator=gen)
    topk = (1, 3, 10, n_g)
    got = faiss_retrieval_metrics(q, g, ql, gl, topk=topk, similarity=similarity)
    exact = retrieval_metrics(q, g, ql, gl, topk=topk, similarity=similarity)
    want = reference(q.numpy(), g.numpy(), ql.numpy(), gl.numpy(), topk=topk, similarity=similarity)
    assert 0 < want["top10"] < 1 and 0 < want["mAP"] < 1
    for key, val in want.items():
        assert got[key.replace("mAP", f"mAP@{n_g}")] == pytest.approx(val, rel=1e-12), key
        assert exact[key] == pytest.approx(val, rel=1e-12), key


def test_the_engine_does_not_know_its_faiss_backend():
    """One direction of knowledge: the backend imports the engine, the engine (and fashionret.eval) not it."""
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import fashionret.eval.ranking as ranking

    tree = ast.parse(Path(ranking.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and "faiss" in m}, imported
    code = "import sys, fashionret.eval; print(sorted(m for m in sys.modules if 'faiss' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
