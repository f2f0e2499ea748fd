"""`python -m sealdog`: the same command line as the `sealdog` script."""

from sealdog.cli import main

main()
