"""The error kind every layer can raise without importing the layers above it (SPEC.md, "Layers").

:class:`OneSentenceError` marks an error whose message is already the one sentence a user needs (what failed,
and what to do): a job that raises one ends with that sentence, not a stack trace
(:func:`fashionret.utils.jobs.run_job`). The concrete errors live in their own layers and add it as a second
base (``class DatasetNotFoundError(FileNotFoundError, OneSentenceError)``), so their usual bases still hold.
"""

from __future__ import annotations


class OneSentenceError(Exception):
    """An error whose message is one sentence for the user: printed as it is, without a traceback."""
