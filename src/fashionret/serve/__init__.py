"""Serving a trained run: load it from its directory or checkpoint alone (:mod:`.run`), embed images through
the LightningModule's ``predict_step`` (:mod:`.embed`) or, for queries, the run's ONNX export
(:mod:`.embedder`), gallery indexes -- exact (:mod:`.index`, :mod:`.items`) and approximate (:mod:`.approx`) --,
the HTTP search service and its page (:mod:`.service`, :mod:`.page`) and export (:mod:`.export`). The
``fashionret-search`` and ``fashionret-export`` entry points are thin layers over these.

This package's ``__init__`` imports nothing heavy: the export constants below are read by ``fashionret-export
--help`` without torch.
"""

#: export formats (:func:`fashionret.serve.export.export`)
EXPORT_FORMATS = ("onnx", "torchscript")
#: largest |export - PyTorch| an export may differ by
EXPORT_TOLERANCE = 1e-4
