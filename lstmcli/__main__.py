import sys

from lstmcli.cli import main

sys.exit(main())
