import itertools

import pytest
import torch

from fashionret.losses import BatchAllTripletLoss, pairwise_euclidean


def brute_force_batch_all(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> tuple[float, int]:
    """Loop over every (q, p, n) index triplet: eq. 2 summed as in eq. 3, and the count T of eq. 1."""
    total, count = 0.0, 0
    n = len(labels)
    for q, p, m in itertools.product(range(n), repeat=3):
        if q != p and labels[q] == labels[p] and labels[q] != labels[m]:
            d_qp = torch.linalg.norm(emb[q] - emb[p]).item()
            d_qn = torch.linalg.norm(emb[q] - emb[m]).item()
            total += max(d_qp - d_qn + margin, 0.0)
            count += 1
    return total, count


@pytest.mark.parametrize(("C", "N"), [(2, 2), (3, 2), (2, 3), (4, 3)])
def test_batch_all_equals_brute_force_and_eq1_count(C, N):
    torch.manual_seed(C * 10 + N)
    labels = torch.arange(C).repeat_interleave(N)
    emb = torch.randn(C * N, 5)
    loss_fn = BatchAllTripletLoss(margin=1.5, reduction="sum")
    loss = loss_fn(emb, labels)
    ref, count = brute_force_batch_all(emb, labels, 1.5)
    assert count == C * N * (N - 1) * (C * N - N)  # paper 000 eq. 1
    assert loss_fn.last_stats["num_triplets"] == count
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    mean = BatchAllTripletLoss(margin=1.5, reduction="mean")(emb, labels)
    assert mean.item() == pytest.approx(ref / count, rel=1e-5)


def test_mean_positive_reduction_and_zero_loss_when_separated():
    labels = torch.tensor([0, 0, 1, 1])
    far = torch.tensor([[0.0, 0.0], [0.0, 0.1], [10.0, 0.0], [10.0, 0.1]])
    fn = BatchAllTripletLoss(margin=1.5, reduction="mean_positive")
    assert fn(far, labels).item() == 0.0
    assert fn.last_stats["fraction_positive"] == 0.0
    close = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.5, 0.0], [0.5, 1.0]])
    val = fn(close, labels)
    ref, _ = brute_force_batch_all(close, labels, 1.5)
    n_pos = fn.last_stats["fraction_positive"] * fn.last_stats["num_triplets"]
    assert val.item() == pytest.approx(ref / n_pos, rel=1e-5)


def test_gradient_finite_with_duplicate_embeddings():
    emb = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    loss = BatchAllTripletLoss(margin=1.5)(emb, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert torch.isfinite(emb.grad).all()
    d = pairwise_euclidean(emb.detach())
    assert d[0, 1] == 0 and d[0, 2] == pytest.approx(5**0.5)


def test_batch_without_triplets_gives_zero_loss_with_grad():
    emb = torch.randn(3, 4, requires_grad=True)
    loss = BatchAllTripletLoss()(emb, torch.tensor([0, 1, 2]))  # no positives
    assert loss.item() == 0.0
    loss.backward()


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        BatchAllTripletLoss(reduction="avg")
