"""CLI subcommands beyond `run` and `themes`: each module here exposes one click command as `command`."""
