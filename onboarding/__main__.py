import sys

from onboarding.app import main

sys.exit(main())
