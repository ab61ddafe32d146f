"""DiffMusic Bridge: the daemon, its protocol and its clients (CLI, Python, REAPER, batch)."""
