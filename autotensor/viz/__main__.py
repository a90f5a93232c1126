"""`python -m autotensor.viz`: the autotensor-draw command."""

import sys

from autotensor.viz import main

sys.exit(main())
