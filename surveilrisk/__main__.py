"""`python -m surveilrisk`: the same command line as the `surveilrisk` script."""

from surveilrisk.cli import app

app()
