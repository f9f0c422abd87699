"""`python -m nnlab` runs the command line."""

from nnlab.cli.main import main

main()
