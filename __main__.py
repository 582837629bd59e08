"""`python -m rectify`: the same command line as the `rectify` console script."""

from .cli import main

main()
