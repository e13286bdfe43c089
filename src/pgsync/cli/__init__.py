"""The `pgsync` command: the only layer that knows the terminal and the environment."""
