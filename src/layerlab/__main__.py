"""``python -m layerlab``: the ``layerlab`` command (same arguments, output and exit code)."""

from layerlab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
