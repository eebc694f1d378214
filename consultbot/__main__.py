"""`python -m consultbot`."""

import sys

from consultbot.cli.main import main

sys.exit(main())
