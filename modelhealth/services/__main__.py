"""``python -m modelhealth.services up|down|status|fetch``."""

import sys

from modelhealth.services.jvm import main

sys.exit(main())
