"""`python -m gateway.cli`: the `smsgw` command."""

import sys

from gateway.cli.main import main

sys.exit(main())
