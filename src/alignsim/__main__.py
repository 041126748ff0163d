import sys

from alignsim.apps.cli import main

sys.exit(main())
