"""``python -m service.api [serve|migrate|config-table]``."""

import sys

from service.api.serve import main

sys.exit(main())
