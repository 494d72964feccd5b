import sys

from orchestration.demo.run import main

sys.exit(main())
