"""Config values checked before anything is built: a wrong type or range is one sentence naming the key, the
value and what was expected (not Lightning's bare ``AssertionError`` or albumentations' pydantic dump)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fashionret.utils.errors import OneSentenceError


class ConfigValueError(ValueError, OneSentenceError):
    """A config value of the wrong type or range; one sentence naming key, value and expectation."""


def _int(lo: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _limit(v: Any) -> bool:  # trainer.limit_*_batches: a count, or a fraction of the epoch
    if isinstance(v, bool):
        return False
    return (isinstance(v, int) and v >= 0) or (isinstance(v, float) and 0.0 <= v <= 1.0)


def _number(lo: float) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= lo


def _duration(v: Any) -> bool:  # trainer.max_time: what Lightning's Timer accepts from a config
    import re
    from collections.abc import Mapping

    if isinstance(v, str):
        return re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", v.strip()) is not None
    if isinstance(v, Mapping):
        units = {"days", "hours", "minutes", "seconds"}
        return bool(v) and set(v) <= units and all(_number(0.0)(x) for x in v.values())
    return False


#: key -> (check, what is expected, optional: None allowed)
CHECKS: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
    "trainer.max_epochs": (_int(-1), "an integer number of epochs (-1: no limit)", True),
    "trainer.min_epochs": (_int(0), "an integer number of epochs >= 0", True),
    "trainer.max_time": (_duration, 'a duration "DD:HH:MM:SS" (00:11:00:00 = 11 hours) or {hours: 11}', True),
    "trainer.max_steps": (_int(-1), "an integer number of steps (-1: no limit)", True),
    "trainer.check_val_every_n_epoch": (_int(1), "an integer >= 1", True),
    "trainer.log_every_n_steps": (_int(1), "an integer >= 1", True),
    "trainer.accumulate_grad_batches": (_int(1), "an integer >= 1", True),
    "trainer.limit_train_batches": (_limit, "a batch count >= 0 or a fraction in [0, 1]", True),
    "trainer.limit_val_batches": (_limit, "a batch count >= 0 or a fraction in [0, 1]", True),
    "trainer.limit_test_batches": (_limit, "a batch count >= 0 or a fraction in [0, 1]", True),
    "image_size.height": (_int(1), "a positive integer number of pixels", False),
    "image_size.width": (_int(1), "a positive integer number of pixels", False),
    "data.num_workers": (_int(0), "an integer >= 0", True),
    "data.eval_batch_size": (_int(1), "a positive integer", True),
    "model.embedding_dim": (_int(1), "a positive integer", True),
    "optimizer.lr": (_number(0.0), "a learning rate >= 0", False),
    "seed": (_int(0), "an integer >= 0", True),
}


def check_config_values(cfg: DictConfig) -> None:
    """Apply :data:`CHECKS` to the keys ``cfg`` has.

    Raises:
        ConfigValueError: e.g. ``trainer.max_epochs=abc is not valid: expected an integer number of epochs``.
    """
    for key, (ok, expected, optional) in CHECKS.items():
        try:
            value = OmegaConf.select(cfg, key, throw_on_missing=False, default="<absent>")
        except Exception:  # an interpolation that does not resolve: left to the code that reads it
            continue
        if isinstance(value, str) and value == "<absent>":
            continue
        if value is None and optional:
            continue
        if not ok(value):
            how = "" if key == "trainer.max_time" else f" (set it as {key}=N)"
            raise ConfigValueError(f"{key}={value} is not valid: expected {expected}{how}")
