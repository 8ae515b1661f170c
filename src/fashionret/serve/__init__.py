"""Serving a trained run: load it from its directory or checkpoint alone (:mod:`.run`), embed images through
the LightningModule's ``predict_step`` (:mod:`.embed`), gallery indexes (:mod:`.index`) and export
(:mod:`.export`). The ``fashionret-search`` and ``fashionret-export`` entry points are thin layers over these.
"""
