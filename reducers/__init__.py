"""Pure folds from events to read-model documents: no I/O, no clock, no randomness."""
