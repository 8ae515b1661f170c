"""The baselines table (``sweeps/baselines.yaml``): the papers' identity models beside global-embedding baselines
and zero-shot backbones, on whichever identity dataset the sweep ran on.

Rows match jobs by their ``experiment`` choice. Where every job ran on DeepFashion In-Shop, two published
anchors are added as reference rows (their numbers only; they are not run here): Proxy-Anchor (Kim et al.,
CVPR 2020, Table 3: BN-Inception, 512-d, R@1 91.9) and Open Metric Learning's ViT-S/16 DINO model (OML
``vits16_inshop`` model zoo: R@1 92.1). On other datasets no number of theirs applies and the rows are left out.
Ours are printed in percent (R@k = top-k hit rate, paper 000 eq. 4; mAP as the ranking engine computes it).
"""

from __future__ import annotations

from fashionret.tables.collect import Job
from fashionret.tables.spec import PaperTable, Row

INSHOP = "deepfashion_inshop"
BACKBONES = (
    ("ResNet-50", "resnet50"),
    ("ConvNeXt-T", "convnext_tiny"),
    ("ViT-S/16 (DINO)", "vit_small_patch16_224"),
    ("CLIP ViT-B/16", "vit_base_patch16_clip_224"),
)
LOSSES = (("triplet (hard)", "triplet_margin"), ("multi-similarity", "multi_similarity"), ("ArcFace", "arcface"))
METRICS = ("top1", "top10", "top20", "top50", "mAP")
TITLES = {"top1": "R@1", "top10": "R@10", "top20": "R@20", "top50": "R@50", "mAP": "mAP"}

OUR_ROWS = (
    Row(("DBAN (PAResNet50, paper 000)", "ResNet-50", "batch-all triplet"), {"experiment": "baseline_dban"}),
    Row(("AHBN (paper 001)", "Inception-ResNet-v2", "ID + attribute + landmark"), {"experiment": "baseline_ahbn"}),
    *(
        Row(("global", bb_label, loss_label), {"experiment": f"baseline_{bb}_{loss}"})
        for bb_label, bb in BACKBONES
        for loss_label, loss in LOSSES
    ),
    *(Row(("zero-shot", bb_label, "— (not trained)"), {"experiment": f"zeroshot_{bb}"}) for bb_label, bb in BACKBONES),
)
REFERENCE_ROWS = (
    Row(
        ("Proxy-Anchor (Kim et al. 2020)", "BN-Inception", "Proxy-Anchor"),
        {"experiment": "<published, not run>"},
        {"top1": 91.9},
        paper_note="published, In-Shop",
    ),
    Row(
        ("OML ViT-S/16 (DINO, fine-tuned)", "ViT-S/16", "triplet"),
        {"experiment": "<published, not run>"},
        {"top1": 92.1},
        paper_note="published, In-Shop",
    ),
)
NOTES = (
    "Zero-shot rows test each backbone's pretrained features without training (train=false); without pretrained "
    "weights (+smoke=cpu, pretrained=false) they are random-init features.",
    "Published rows are other authors' In-Shop numbers in their own setting (image size, schedule, pretraining); "
    "they are shown only when the runs are on DeepFashion In-Shop.",
)


def _table(rows: tuple[Row, ...], dataset: str) -> PaperTable:
    return PaperTable(
        name="baselines",
        title=f"Baselines: the papers' models, global-embedding baselines and zero-shot backbones ({dataset}).",
        row_headers=("Model", "Backbone", "Loss"),
        rows=rows,
        metrics=METRICS,
        sweep="baselines",
        notes=NOTES,
        metric_titles=TITLES,
        metric_scale={m: 100.0 for m in METRICS},
    )


def table_for(jobs: list[Job]) -> PaperTable:
    """The table for these jobs: with the published In-Shop reference rows only when every job ran on In-Shop."""
    datasets = sorted({j.choices.get("data", "?") for j in jobs})
    if datasets == [INSHOP]:
        return _table(OUR_ROWS + REFERENCE_ROWS, INSHOP)
    return _table(OUR_ROWS, ", ".join(datasets) or "no runs")


TABLES: dict[str, PaperTable] = {"baselines": _table(OUR_ROWS, "any identity dataset")}
#: tables whose rows depend on the jobs (``fashionret-tables`` calls these with the collected jobs)
RESOLVE = {"baselines": table_for}
