"""`python -m sidecar.cli`: the same as the `maytrain` command."""

import sys

from . import main

sys.exit(main())
