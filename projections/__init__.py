"""Read-model documents, the Store port and its adapters, and the code that feeds them from the log."""
