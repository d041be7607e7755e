"""The CLI's subcommands, one module per group; :mod:`latentcodec.cli` imports
a module only when one of its subcommands runs, so each pays only for its own imports."""
