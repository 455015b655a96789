"""Blue/green rebuilds of read models from the log, through the live write path."""
