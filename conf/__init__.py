"""fashionret's Hydra config tree; installed as the package ``fashionret.conf`` (Hydra: ``pkg://fashionret.conf``)."""
