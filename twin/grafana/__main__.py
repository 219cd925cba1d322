"""``python -m twin.grafana``: write the dashboards and alert rules into grafana/."""

from __future__ import annotations

import sys
from pathlib import Path

from twin.grafana.files import write

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("grafana")
    for path in write(target):
        print(path)
