"""The CLI and the composition roots of Tribestream's processes."""
