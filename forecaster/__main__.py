"""``python -m forecaster`` is the ``forecaster`` command."""

import sys

from forecaster.cli import main

sys.exit(main())
