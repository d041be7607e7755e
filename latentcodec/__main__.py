import sys

from latentcodec.cli import main

sys.exit(main())
