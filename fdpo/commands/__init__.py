"""One module per subcommand; each exposes ``HELP`` and ``command`` (see ``fdpo.cli``)."""
