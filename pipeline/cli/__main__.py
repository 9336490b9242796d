"""``python -m pipeline.cli``: the ``linkreg`` command without its console script."""

from pipeline.cli import run

run()
