"""The subcommands of `surveilrisk`, one module per area."""
