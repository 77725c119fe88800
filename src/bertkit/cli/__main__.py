"""`python -m bertkit.cli ...` (torchrun uses this form)."""
import sys

from bertkit.cli.main import main

sys.exit(main())
