"""Redraw the census's FOSP figures from their reports alone (no sampling): three-way verdict marks per
objective (landscape.fosp.figure).

    python analyses/census/redraw_fosp.py [reports/census]     # fosp_hopper_<algo>.json -> .pdf, .png beside it
"""

import sys
from pathlib import Path

from landscape.fosp import redraw

if __name__ == "__main__":
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/census")
    for path in sorted(d.glob("fosp_hopper_*.json")):
        print(", ".join(map(str, redraw(path))))
