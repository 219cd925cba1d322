"""``python -m twin.app.cli`` is the ``twin`` command, as it was when the CLI was one module."""

import sys

from twin.app.cli import main

sys.exit(main())
