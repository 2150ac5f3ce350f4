"""The ``satsr`` command line: ``satsr upscale``, ``satsr models``, ``satsr info`` and more.

Commands are thin: they parse options, call the functional API (:func:`satsr.open_stack`,
:func:`satsr.upscale`, the writers) and print. Every check that can fail runs before any pixel is computed,
so a bad input never leaves an output behind. Errors print as one line, ``error: <message>``, with exit
code 1; ``satsr --debug ...`` shows the traceback instead.

One module per concern: :mod:`~satsr.cli.app` (the group, error handling), :mod:`~satsr.cli.params` (shared
option parsing), :mod:`~satsr.cli.upscale`, :mod:`~satsr.cli.info` (models, info), :mod:`~satsr.cli.train`
(train, evaluate), :mod:`~satsr.cli.batch` (catalog init, batch) and :mod:`~satsr.cli.pictures` (quicklook,
compare). Importing the package registers every command on :func:`main`.
"""

from satsr.cli import batch, info, pictures, train, upscale  # noqa: F401 (imported to register the commands)
from satsr.cli.app import main

__all__ = ["main"]
