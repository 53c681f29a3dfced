"""Forward-year timing per configuration and number of cells (the embedded world tiled), with
the ratio of each time per cell-day to the first size's, measured in the same process.

    python benchmarks/scaling.py [--cells 1000,4263,16000,64000] [--workers 0,2]

(the same as `bgctestbed bench`; see `bgctestbed bench --help` for the options)
"""

import sys

from bgctestbed.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
