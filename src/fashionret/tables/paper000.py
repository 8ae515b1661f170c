"""Paper 000 (Buddhacharya et al., PAResNet50): its result tables as printed, and how our runs map onto them.

Numbers are transcribed from the paper's text (Tables I-IV). Fig. 3, 4 and 5 are bar charts without printed
numbers: their tables carry ours only (Fig. 5's DBAN-on-DeepFashion2 bars are the setting of Table III's
256x256 row, whose numbers are shown there, marked as such).

Rows are matched to runs by Hydra config-group choices (``hydra.runtime.choices`` of each job: ``model``,
``model/head``, ``backbone``, ``image_size``, ``data``) — what the sweep files in ``sweeps/`` vary.
"""

from __future__ import annotations

from fashionret.tables.spec import METRICS, CategoryFigure, PaperTable, Row


def _row(*values: float) -> dict[str, float]:
    return dict(zip(METRICS, values))


ARCHS = (("SN", "sn"), ("SBN", "sbn"), ("SBAN", "sban"), ("DBAN", "dban"))
DATASETS = (("DeepFashion", "deepfashion_c2s"), ("DeepFashion2", "deepfashion2"))
DF2, R50 = "deepfashion2", "resnet50"

TABLES: dict[str, PaperTable] = {
    "paper000_table1": PaperTable(
        name="paper000_table1",
        title=(
            "TABLE I. Comparison of top-k (k = 1, 5, 10, 20, 50) retrieval accuracy on DeepFashion2 dataset for "
            "different embedding layers performed on 256x256 image size."
        ),
        row_headers=("Last layer",),
        extra_columns=("# size",),
        rows=(
            Row(
                ("Flatten",),
                {"model/head": "flatten"},
                _row(0.687, 0.445, 0.629, 0.712, 0.784, 0.865),
                {"# size": "65536"},
            ),
            Row(("SPP",), {"model/head": "spp"}, _row(0.720, 0.485, 0.663, 0.743, 0.815, 0.893), {"# size": "21504"}),
            Row(
                ("GlobalAvg",),
                {"model/head": "gap"},
                _row(0.785, 0.576, 0.747, 0.812, 0.863, 0.927),
                {"# size": "4096"},
            ),
        ),
        sweep="paper000_table1",
        setting={"model": "sn", "backbone": R50, "data": DF2, "image_size": "256x256"},
        notes=("Model: SN (ResNet-50 conv5_block3 -> 1x1 conv -> head -> dense), as §IV-D describes.",),
    ),
    "paper000_table2": PaperTable(
        name="paper000_table2",
        title=(
            "TABLE II. Comparison of top-k (k = 1, 5, 10, 20, 50) retrieval accuracy on DeepFashion2 dataset for "
            "different architectures performed on 256x256 image size."
        ),
        row_headers=("Models",),
        rows=(
            Row(("VGG-16",), {"backbone": "vgg16"}, _row(0.699, 0.453, 0.633, 0.715, 0.804, 0.894)),
            Row(("MobilenetV1",), {"backbone": "mobilenetv1_100"}, _row(0.566, 0.315, 0.486, 0.572, 0.665, 0.793)),
            Row(("ResNet-50",), {"backbone": "resnet50"}, _row(0.798, 0.588, 0.761, 0.822, 0.882, 0.937)),
        ),
        sweep="paper000_table2",
        setting={"model": "dban", "data": DF2, "image_size": "256x256"},
        notes=("Model: PAResNet (DBAN) on each backbone; its ResNet-50 row equals Table III's 256x256 row.",),
    ),
    "paper000_table3": PaperTable(
        name="paper000_table3",
        title="TABLE III. Comparison of top-k (k = 1, 5, 10, 20, 50) retrieval accuracy on DeepFashion2 dataset for "
        "different image sizes.",
        row_headers=("Image size",),
        rows=(
            Row(("256x128",), {"image_size": "256x128"}, _row(0.7896, 0.567, 0.746, 0.817, 0.879, 0.939)),
            Row(("256x256",), {"image_size": "256x256"}, _row(0.798, 0.588, 0.761, 0.822, 0.882, 0.937)),
            Row(("320x320",), {"image_size": "320x320"}, _row(0.813, 0.617, 0.774, 0.834, 0.895, 0.943)),
        ),
        sweep="paper000_table3",
        setting={"model": "dban", "backbone": R50, "data": DF2},
        notes=("Model: PAResNet50 (DBAN). Image sizes are height x width.",),
    ),
    "paper000_table4": PaperTable(
        name="paper000_table4",
        title="TABLE IV. Comparison of PAResNet50's top-k (k = 1, 5, 10, 20, 50) retrieval accuracy on DeepFashion "
        "and DeepFashion2 datasets with 320x320 image size.",
        row_headers=("Datasets",),
        rows=(
            Row(("DeepFashion",), {"data": "deepfashion_c2s"}, _row(0.771, 0.503, 0.733, 0.810, 0.873, 0.936)),
            Row(("DeepFashion2",), {"data": "deepfashion2"}, _row(0.813, 0.617, 0.774, 0.834, 0.895, 0.943)),
        ),
        sweep="paper000_table4",
        setting={"model": "dban", "backbone": R50, "image_size": "320x320"},
        notes=("DeepFashion = the Consumer-to-Shop benchmark (consumer queries, shop gallery).",),
    ),
    "paper000_fig5": PaperTable(
        name="paper000_fig5",
        title="Fig. 5. Comparison of top-k retrieval accuracy for different architectures on DeepFashion (a) and "
        "DeepFashion2 (b). Each model is trained on image size of 256x256.",
        row_headers=("Dataset", "Model"),
        rows=tuple(
            Row(
                (ds_label, arch_label),
                {"data": ds, "model": arch},
                _row(0.798, 0.588, 0.761, 0.822, 0.882, 0.937) if (ds, arch) == ("deepfashion2", "dban") else None,
                paper_note="Table III, 256x256" if (ds, arch) == ("deepfashion2", "dban") else "",
            )
            for ds_label, ds in DATASETS
            for arch_label, arch in ARCHS
        ),
        sweep="paper000_fig5",
        companions=("paper000_fig3", "paper000_fig4"),
        setting={"backbone": R50, "image_size": "256x256"},
        notes=(
            "Fig. 5 is a bar chart (top-1/5/10/20) without printed numbers: only DBAN on DeepFashion2 has paper "
            "numbers, from Table III's 256x256 row (the same setting).",
        ),
    ),
}

FIGURES: dict[str, CategoryFigure] = {
    "paper000_fig3": CategoryFigure(
        name="paper000_fig3",
        title="Fig. 3. Top-1 and top-5 per-category retrieval accuracy on DeepFashion (Consumer-to-Shop).",
        data="deepfashion_c2s",
        models=ARCHS,
        sweep="paper000_fig5",
        setting={"backbone": R50},
        notes=(
            "Rendered from the Fig. 5 sweep (256x256); the paper's Fig. 3 models were trained at 320x320 — run "
            "the Fig. 5 sweep with image_size=320x320 to match. The paper prints no numbers (bar chart).",
            "The paper's Fig. 3 shows the validation set; ours is the test split of the same runs.",
        ),
    ),
    "paper000_fig4": CategoryFigure(
        name="paper000_fig4",
        title="Fig. 4. Top-1 and top-5 per-category retrieval accuracy on DeepFashion2.",
        data="deepfashion2",
        models=ARCHS,
        sweep="paper000_fig5",
        setting={"backbone": R50, "image_size": "256x256"},
        notes=("Rendered from the Fig. 5 sweep (256x256, as in the paper). The paper prints no numbers (bar chart).",),
    ),
}
