"""``python bench/hub_nolimit.py serve ...``: the stock hub with one constant changed.

The hub limits ``chat:send`` to 5 messages/s per socket (burst 20, ``hub.ratelimit.LIMITS``), so
20 agents can send at most 100 messages/s in total, and a 50/50 benchmark mix is refused above
200 messages/s whatever the hub's capacity. To find where the hub itself saturates,
``chat_latency.py --lift-chat-limit`` starts the hub through this file, which raises that one
bucket before the hub starts. Nothing else differs from ``python -m hub``: same code, same
settings, same process model.
"""

from __future__ import annotations

import sys

from hub import ratelimit
from hub.cli import main

# The namespaces look the bucket up in this dict when a socket first sends, so replacing the
# entry before anything connects is enough.
ratelimit.LIMITS["chat"] = ratelimit.Limit(rate=1_000_000.0, burst=1_000_000.0)

if __name__ == "__main__":
    sys.exit(main())
