"""One sweep per paper table; installed as the package ``fashionret.sweeps`` (Hydra: ``pkg://fashionret.sweeps``)."""
