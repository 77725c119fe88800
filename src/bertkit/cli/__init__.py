"""Command line: `bertkit <verb>`. Each verb lives in its own module with `register(subparsers)`."""
