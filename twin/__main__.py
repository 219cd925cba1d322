"""``python -m twin`` is the ``twin`` command."""

import sys

from twin.app.cli import main

sys.exit(main())
