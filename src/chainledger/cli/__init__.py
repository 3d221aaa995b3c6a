"""The command line: parses, calls the application, renders. Nothing else."""
