"""``python -m satsr.cli``: the same as the ``satsr`` command."""

from satsr.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
