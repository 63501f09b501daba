"""How long a test waits for an in-process WebSocket's handshake.

asgiref's communicator gives a connect one second, and a board's connect subscribes to Redis
before it answers. On a 2-core machine running the suite's two workers beside Chromium and
subprocess servers, that has taken longer than a second (CI at 6f6070f: the Redis connect under
a board's handshake timed out at its 1 s, and the communicator's wait with it). No test times a
handshake, so each waits as long as a hung one may take; `tests/xdist_workers.py` gives the
workers' Redis connects the same room.
"""

CONNECT_S = 10
