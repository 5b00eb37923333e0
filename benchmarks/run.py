"""Same as `layerlab bench`: python benchmarks/run.py --vs torch --vs numpy."""

import sys

from layerlab.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
