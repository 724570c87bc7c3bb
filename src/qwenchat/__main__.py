"""Allow ``python -m qwenchat``."""

from qwenchat.cli.main import main

main()
