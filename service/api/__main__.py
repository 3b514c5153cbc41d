"""``python -m service.api [serve|migrate|config-table|add-organisation]``."""

import sys

from service.api.serve import main

sys.exit(main())
