"""The command-line commands, one module per kind of work; ``app/cli.py`` assembles them."""
