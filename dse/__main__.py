"""`python -m dse` runs the command line (for machines where the console script is not installed)."""

from dse.cli import main

main()
