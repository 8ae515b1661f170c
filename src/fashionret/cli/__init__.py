"""Entry points: thin Hydra apps that instantiate what the config names and hand it to Lightning."""

from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parents[3] / "conf")
