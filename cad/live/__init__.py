"""The live board's plumbing: events stored with a gapless sequence and published after commit,
the per-process hub that joins each stream once and fans out to local sockets, the board socket
itself, the snapshot a socket sends when it has missed too much, and closing sockets when their
user's session ends. What the events say is each app's business (`<app>/events.py`); how they
travel is this package's."""
