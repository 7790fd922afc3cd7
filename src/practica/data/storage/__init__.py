"""Where decoded data lives between runs: the data cache and memory-mapped arrays."""
