"""`python -m consultbot`."""

import sys

from consultbot.cli import main

sys.exit(main())
