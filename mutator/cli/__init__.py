"""The `mutator` command line (Typer): commands in main.py and concurrency.py."""
