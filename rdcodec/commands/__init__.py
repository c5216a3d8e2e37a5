"""Subcommands of the ``rdcodec`` CLI, each module imported only when its command runs."""
