"""``python -m hicropl.cli``, as torchrun needs it."""

import sys

from hicropl.cli import main

sys.exit(main())
