import sys

from lpfk.cli import main

sys.exit(main())
