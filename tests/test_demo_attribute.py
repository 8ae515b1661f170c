"""The attribute demo (``fashionret-train experiment=demo_attribute``) as the README types it: AG-MAN must end far
above the MAP of random rankings, printed beside it, and print what the README shows."""

import json

import pytest

from tests.test_demo import readme_demo_sample, run_demo_as_typed


def test_readme_attribute_demo_sample_is_well_formed():
    table, where = readme_demo_sample("fashionai")
    assert table[0] == "Test (fashionai): 24 queries" and table[-1].startswith("mAP ")
    assert where[0] == "Where this run's results are:" and any("checkpoints/epoch_" in ln for ln in where)


@pytest.mark.slow
def test_attribute_demo_prints_the_readme_sample_far_above_chance(tmp_path):
    """The installed console script in an empty directory, no W&B account: the seeded run's test table equals the
    README's line for line, the recorded results are the printed ones, and AG-MAN closes more than half of the
    gap between chance MAP and 1."""
    table = run_demo_as_typed(["experiment=demo_attribute"], tmp_path, "fashionai", timeout=1800)
    res = json.loads(next((tmp_path / "logs/train/runs").glob("*/results.json")).read_text())
    ours, chance = res["test"]["mAP"], res["chance"]["mAP"]
    (printed,) = [ln for ln in table if ln.startswith("mAP ")]
    assert printed.split()[1:3] == [f"{ours:.4f}", f"{chance:.4f}"]  # the table is the recorded result
    assert res["test"]["num_queries"] == 24 and 0.4 < chance < 0.6  # 3 values per attribute: exact expectation
    assert ours >= chance + 0.5 * (1 - chance), (ours, chance)
