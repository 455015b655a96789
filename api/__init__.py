"""The HTTP API: validates requests, appends events, answers from the read models."""
