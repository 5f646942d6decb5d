"""The support console's own parts: one durable queue of work items, and the console stream that
gives every change a seq so a console that was away replays what it missed."""
