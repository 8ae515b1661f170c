"""Paper 001 (Su et al., AHBN): its result tables as printed, and how our runs map onto them.

Numbers are transcribed from the paper's text (Tables I-IV; the attribute mAP of 46.0% from §IV-C / Fig. 4).
Rows are matched to runs by the ``experiment`` choice (``conf/experiment/paper001_*.yaml``: one file per row
or per cell), which is what the sweep files ``sweeps/paper001_*.yaml`` vary.

Tables II-IV compare AHBN with other published methods; only AHBN is run here, so the other methods' printed
numbers are listed under each table (transcribed as printed; "–" where the paper has no number).
Table II is printed with one row per method and one column per category; ours has one run per category, so
it is rendered transposed: one row per category, AHBN's printed number beside ours.
"""

from __future__ import annotations

from fashionret.tables.spec import PaperTable, Row

Y, N = "✓", "×"
TOPK = ("top1", "top10", "top20", "top30", "top40", "top50")
TITLES = {"top30": "top-30", "top40": "top-40", "attribute_mAP": "attribute mAP", "nme": "landmark NME"}


def _topk(*values: float) -> dict[str, float]:
    return dict(zip(TOPK, values))


# (labels: Model, ATTR, LM, Attention), experiment file, printed Acc@1, 10, 20, 30, 40, 50
TABLE1_ROWS = (
    (("Single-Branch", N, N, N), "paper001_single_branch", (0.239, 0.498, 0.564, 0.602, 0.628, 0.648)),
    (("Single-Branch + Res50", N, N, N), "paper001_single_branch_res50", (0.142, 0.367, 0.449, 0.501, 0.538, 0.568)),
    (
        ("Single-Branch + Spatial Atten.", N, N, N),
        "paper001_single_branch_spatial",
        (0.232, 0.475, 0.540, 0.576, 0.601, 0.624),
    ),
    (("Single-Branch + ATTR", Y, N, N), "paper001_single_branch_attr", (0.243, 0.504, 0.578, 0.609, 0.634, 0.654)),
    (("Single-Branch + LM", N, Y, N), "paper001_single_branch_lm", (0.118, 0.297, 0.357, 0.396, 0.425, 0.447)),
    (("Two-Branch w. 8LM", Y, Y, N), "paper001_two_branch_8lm", (0.241, 0.501, 0.566, 0.604, 0.631, 0.651)),
    (("Two-Branch w. 256LM", Y, Y, N), "paper001_two_branch_256lm", (0.256, 0.524, 0.591, 0.628, 0.655, 0.674)),
    (("Two-Branch w. 256LM + BP", Y, Y, N), "paper001_two_branch_bp", (0.247, 0.502, 0.568, 0.602, 0.631, 0.652)),
    (("Two-Branch w. 256LM + Cat", Y, Y, N), "paper001_two_branch_cat", (0.247, 0.516, 0.582, 0.619, 0.644, 0.663)),
    (("Two-Branch w. 256LM + Mul", Y, Y, N), "paper001_two_branch_mul", (0.244, 0.514, 0.580, 0.618, 0.645, 0.664)),
    (("Two-Branch w. 256LM + Sum", Y, Y, N), "paper001_two_branch_sum", (0.243, 0.510, 0.573, 0.610, 0.635, 0.653)),
    (
        ("Two-Branch w. 256LM + Sepa. Atten.", Y, Y, "Separate Atten."),
        "paper001_two_branch_sepa",
        (0.257, 0.528, 0.595, 0.633, 0.660, 0.679),
    ),
    (("Our AHBN Model + 4×4", Y, Y, "Co-Attention"), "paper001_4x4", (0.250, 0.507, 0.572, 0.606, 0.634, 0.655)),
    (("Our AHBN Model + 16×16", Y, Y, "Co-Attention"), "paper001_16x16", (0.248, 0.505, 0.571, 0.605, 0.633, 0.654)),
    (("Our AHBN Model + Res50", Y, Y, "Co-Attention"), "paper001_res50", (0.214, 0.461, 0.529, 0.567, 0.594, 0.615)),
    (
        ("Our AHBN Model + Softmax", Y, Y, "Co-Attention"),
        "paper001_softmax",
        (0.242, 0.495, 0.560, 0.596, 0.623, 0.643),
    ),
    (("Our AHBN Model", Y, Y, "Co-Attention"), "paper001", (0.260, 0.535, 0.603, 0.640, 0.666, 0.686)),
)

# Table II as printed: method, ATTR, LM, top-20 for Dresses, Leggings, Outerwear, Pants, Skirts, Tops (None = "–")
STREET2SHOP_CATEGORIES = (
    ("Dresses", "dresses"),
    ("Leggings", "leggings"),
    ("Outerwear", "outerwear"),
    ("Pants", "pants"),
    ("Skirts", "skirts"),
    ("Tops", "tops"),
)
TABLE2_OTHERS = (
    ("WTBI [3]", Y, N, (0.371, 0.221, 0.210, 0.292, 0.546, 0.381)),
    ("Impdrop+GoogLeNet [28]", N, N, (0.621, None, None, None, 0.709, 0.523)),
    ("Xiong et al. [29]", N, N, (0.583, None, 0.509, None, 0.736, 0.470)),
    ("Jiang et al. [30]", N, N, (0.212, 0.233, 0.224, 0.322, 0.103, 0.174)),
    ("R. Contrastive with Attribute [23]", N, N, (0.592, 0.201, 0.207, 0.213, 0.498, 0.471)),
    ("GRNet [49]", N, N, (0.642, None, 0.386, 0.485, 0.725, 0.583)),
)
TABLE2_AHBN = (0.712, 0.469, 0.523, 0.561, 0.753, 0.639)

TABLE3_OTHERS = (
    ("CtxYVGG [27]", Y, N, 0.479),
    ("Liu et al. [50]", N, Y, 0.510),
    ("Verma et al. [51]", N, N, 0.253),
    ("R. Contrastive with Attribute [23]", Y, N, 0.230),
    ("AMNet [19]", Y, N, 0.338),
    ("FashionNet [2]", Y, Y, 0.188),
    ("GRNet [49]", N, N, 0.644),
)
TABLE4_OTHERS = (
    ("Studio2Shop [52]", Y, N, 0.818),
    ("DREML [53]", N, N, 0.958),
    ("VAM [28]", N, N, 0.923),
    ("Weakly [21]", Y, N, 0.781),
    ("Zhao et al. [54]", N, N, 0.958),
    ("Verma et al. [51]", N, N, 0.784),
    ("BIER [55]", N, N, 0.952),
    ("HDC [56]", N, N, 0.890),
    ("A-BIER [57]", N, N, 0.969),
    ("ABE-8 [58]", N, N, 0.979),
    ("FastAP [59]", N, N, 0.985),
    ("FashionNet [2]", Y, Y, 0.764),
)


def _others_note(others, columns: tuple[str, ...]) -> str:
    lines = ["Other methods as printed in the paper (only AHBN is trained here):", ""]
    lines.append("| Model | ATTR | LM | " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * (3 + len(columns)))
    for name, attr, lm, values in others:
        vals = values if isinstance(values, tuple) else (values,)
        lines.append(f"| {name} | {attr} | {lm} | " + " | ".join("–" if v is None else f"{v:.3f}" for v in vals) + " |")
    return "\n".join(lines) + "\n"


def street2shop_gallery_note(jobs) -> list[str]:
    """Table II's note on the gallery: paper 001 cropped the shop photos with a detector trained on the street boxes;
    ours are cropped only by a shop-box file (``shop_boxes``). Says, per category, how many shop photos of the test
    gallery had a box, from each run's ``results.json`` (``test_gallery_crop``)."""
    ok = [j for j in jobs if j.status == "ok"]
    if not ok:
        return []
    per, unknown, files = [], [], set()
    for j in ok:
        name = str(j.choices.get("experiment", "?")).removeprefix("paper001_street2shop_")
        crop = j.results.get("test_gallery_crop")
        if not isinstance(crop, dict):
            unknown.append(name)
            continue
        per.append((name, int(crop["cropped"]), int(crop["images"])))
        if crop.get("box_file"):
            files.add(str(crop["box_file"]))
    notes = []
    whole = [(n, k, m) for n, k, m in per if k < m]
    counts = "; ".join(f"{n}: {k} of {m}" for n, k, m in per)
    source = f" (shop-box file {', '.join(sorted(files))})" if files else ""
    if whole:
        n_none = sum(1 for _, k, _ in whole if k == 0)
        notes.append(
            f"**Gallery uncropped in {len(whole)} of {len(per)} runs**: the test gallery's shop photos were used whole "
            f"({n_none} of these runs had no box at all), where paper 001 cropped them with a detector trained on the "
            "street boxes; give such boxes as a shop-box file (`shop_boxes=FILE`, conf/data/street2shop.yaml). "
            f"Shop photos cropped per category{source}: {counts}."
        )
    elif per:
        notes.append(f"Gallery: shop photos cropped by a detector's boxes{source}, as in paper 001: {counts}.")
    if unknown:
        notes.append(f"Gallery cropping not recorded in results.json (older runs): {', '.join(unknown)}.")
    return notes


C2S, IRV2 = "deepfashion_c2s", "inception_resnet_v2"
RECIPE = (
    "Recipe (conf/experiment/paper001.yaml): 299x299 box crops, Adam lr 1e-4 halved every 5 epochs, batch 20, "
    "35 epochs per stage; two-branch rows pre-train the branches on eq. 1 + 2 (stage `pretrain`), then train the "
    "whole model on eq. 1 + 2 + 12 (stage `joint`); single-branch rows train in one stage. Euclidean ranking."
)

TABLES: dict[str, PaperTable] = {
    "paper001_table1": PaperTable(
        name="paper001_table1",
        title=(
            'TABLE I. Ablation study on the DeepFashion Consumer-to-Shop benchmark. The "ATTR" and "LM" columns '
            "indicate if an algorithm uses the corresponding attribute and landmark annotation."
        ),
        row_headers=("Model", "ATTR", "LM", "Attention"),
        rows=tuple(Row(labels, {"experiment": exp}, _topk(*vals)) for labels, exp, vals in TABLE1_ROWS),
        metrics=TOPK,
        metric_titles=TITLES,
        sweep="paper001_table1",
        setting={"data": C2S, "image_size": "299x299"},
        notes=(RECIPE, 'Backbone: Inception-ResNet-v2, except the two "+ Res50" rows (ResNet-50).'),
    ),
    "paper001_table2": PaperTable(
        name="paper001_table2",
        title=(
            "TABLE II. The comparison of top-20 retrieval accuracies on the Exact Street2Shop dataset "
            "(Our AHBN Model; rendered transposed: one row per category)."
        ),
        row_headers=("Category",),
        rows=tuple(
            Row((label,), {"experiment": f"paper001_street2shop_{cat}"}, {"top20": value})
            for (label, cat), value in zip(STREET2SHOP_CATEGORIES, TABLE2_AHBN)
        ),
        metrics=("top20",),
        sweep="paper001_table2",
        setting={"data": "street2shop", "backbone": IRV2, "image_size": "299x299"},
        notes=(
            "Street2Shop has no landmark or attribute annotations: the branches are pre-trained on DeepFashion "
            "Consumer-to-Shop (stage `pretrain_c2s`), then the whole model is trained per category on Street2Shop "
            "with the ID loss (stage `street2shop`). Gallery: the category's shop photos.",
            _others_note(TABLE2_OTHERS, tuple(label for label, _ in STREET2SHOP_CATEGORIES)),
        ),
        run_notes=street2shop_gallery_note,
    ),
    "paper001_table3": PaperTable(
        name="paper001_table3",
        title=(
            "TABLE III. The comparison of top-20 retrieval accuracies on DeepFashion Consumer-to-Shop benchmark "
            "(with the attribute mAP of Fig. 4 and the mean landmark NME of Fig. 5 from the same run)."
        ),
        row_headers=("Model", "ATTR", "LM"),
        rows=(Row(("Our AHBN Model", Y, Y), {"experiment": "paper001"}, {"top20": 0.603, "attribute_mAP": 0.460}),),
        metrics=("top20", "attribute_mAP", "nme"),
        metric_titles=TITLES,
        sweep="paper001_table3",
        setting={"data": C2S, "backbone": IRV2, "image_size": "299x299"},
        notes=(
            RECIPE,
            "attribute mAP: mean over the top-51 attributes of the per-attribute AP on the test images (paper: "
            "46.0%, §IV-C / Fig. 4; per-attribute APs are in results.json as attribute_ap/<k>). Landmark NME: "
            "Fig. 5 prints no numbers (per landmark in results.json as nme/<landmark>).",
            _others_note(TABLE3_OTHERS, ("Acc@20",)),
        ),
    ),
    "paper001_table4": PaperTable(
        name="paper001_table4",
        title="TABLE IV. The comparison of top-20 retrieval accuracies on DeepFashion In-Shop benchmark.",
        row_headers=("Model", "ATTR", "LM"),
        rows=(Row(("Our AHBN Model", Y, Y), {"experiment": "paper001_inshop"}, {"top20": 0.980}),),
        metrics=("top20",),
        sweep="paper001_table4",
        setting={"data": "deepfashion_inshop", "backbone": IRV2, "image_size": "299x299"},
        notes=(
            "Recipe as Table III with In-Shop's 40 most frequent attributes; queries and gallery as the official "
            "partition lists them.",
            _others_note(TABLE4_OTHERS, ("Acc@20",)),
        ),
    ),
}
