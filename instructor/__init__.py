"""Tools an instructor runs, one module per job: ``assign`` builds the kit from the master notebooks."""
