"""``python -m lora_theory.cli`` — the same as the ``lora-theory`` command."""

import sys

from lora_theory.cli import main

sys.exit(main())
