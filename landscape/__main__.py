"""`python -m landscape CMD ...`: the same dispatcher as the `landscape` console command (landscape/cli.py)."""

from .cli import main

main()
