"""What fan-out between hub nodes costs each node and each Redis shard, per second: one channel for
every emit (``hub/fanout.py``) against one shard channel per room (``hub/fanout_sharded.py``).

A closed-form model of expected values (no randomness, no I/O): the same inputs give the same
numbers. The traffic is the hub's shape, per connected socket (see ``Traffic``): 1:1 chat, whose
every message, read receipt and typing notice is an emit to a person's room; sid-addressed emits
when a socket (re)connects (the ``sync`` answer, a snapshot); presence changes sent to the support
agents' room; and a few broadcasts to a whole namespace.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Traffic:
    chat_per_socket: float = 0.01  # chat messages per connected socket per second
    person_emits_per_chat: int = 5  # chat:message x2, chat:receipt x2, chat:typing x1
    own_room_emits_per_chat: int = 2  # of those, to the room of the person who caused them
    reconnects_per_socket: float = 1 / 300  # a phone reconnects every 5 minutes
    sid_emits_per_reconnect: int = 2  # the sync answer and a snapshot, to that socket only
    presence_changes_per_socket: float = 1 / 600  # emitted to the agents' room
    sockets_per_agent: int = 50  # one support agent for this many sockets
    broadcasts: float = 0.01  # namespace-wide emits per second, whole deployment
    namespaces: int = 3
    devices: int = 1  # sockets per person, on nodes chosen at random


@dataclass(frozen=True)
class Cost:
    """Per second, except subscriptions (held)."""

    received: float  # messages delivered to one node by Redis
    decoded: float  # of those, JSON-decoded and handled (own messages are dropped unread by the sharded link)
    subscriptions: float  # channels one node holds
    subscribe_commands: float  # SSUBSCRIBE + SUNSUBSCRIBE one node sends
    publishes_per_shard: float  # PUBLISH / SPUBLISH one Redis shard takes in
    deliveries_per_shard: float  # messages one Redis shard writes to subscribers


def _spread(nodes: int, items: float) -> float:
    """Expected number of distinct nodes holding at least one of ``items`` sockets placed at random."""
    return nodes * (1 - (1 - 1 / nodes) ** items)


def _rates(nodes: int, sockets: int, t: Traffic) -> dict[str, float]:
    chats = sockets * t.chat_per_socket
    reconnects = sockets * t.reconnects_per_socket
    return {
        "person": chats * t.person_emits_per_chat,
        "own_room": chats * t.own_room_emits_per_chat,
        "sid": reconnects * t.sid_emits_per_reconnect,
        "agents": sockets * t.presence_changes_per_socket,
        "broadcast": t.broadcasts * t.namespaces,
        "reconnects": reconnects,
    }


def single_channel(nodes: int, sockets: int, t: Traffic = Traffic()) -> Cost:
    """Every emit is published once and delivered to every node (its own publisher included),
    which decodes it before it can tell whether any of its sockets is concerned."""
    r = _rates(nodes, sockets, t)
    published = r["person"] + r["sid"] + r["agents"] + r["broadcast"]
    return Cost(
        received=published,
        decoded=published,
        subscriptions=1,
        subscribe_commands=0,
        publishes_per_shard=published,  # one Redis carries it all
        deliveries_per_shard=published * nodes,
    )


def sharded(nodes: int, sockets: int, shards: int, t: Traffic = Traffic()) -> Cost:
    """An emit to a room reaches the nodes holding a socket of the room; an emit to a socket of
    the emitting node is not published at all."""
    r = _rates(nodes, sockets, t)
    holders = _spread(nodes, t.devices)  # nodes holding a person's sockets
    agent_nodes = _spread(nodes, sockets / t.sockets_per_agent)
    deliveries = r["person"] * holders + r["agents"] * agent_nodes + r["broadcast"] * nodes
    received = deliveries / nodes
    # A node hears back its own publishes to the rooms it holds (dropped by their last bytes, not
    # decoded): always for the room of the person who caused the emit (their socket is here), for
    # the other person's room when it holds one of their sockets too, for the agents' room when
    # it holds an agent, and for its namespaces.
    echoes = (
        r["own_room"]
        + (r["person"] - r["own_room"]) * holders / nodes
        + r["agents"] * agent_nodes / nodes
        + r["broadcast"]
    ) / nodes
    people = sockets / t.devices
    per_node_people = people * holders / nodes
    # Each socket: its own channel; each person with a socket here: their room; plus the
    # namespaces, the agents' room and the node's own channel.
    subscriptions = sockets / nodes + per_node_people + t.namespaces + 2
    # A reconnect lets go of the socket's channel and its person's room (with one device), and
    # takes them again on the node it lands on.
    per_reconnect = 2 if t.devices == 1 else 1
    return Cost(
        received=received,
        decoded=received - echoes,
        subscriptions=subscriptions,
        subscribe_commands=2 * per_reconnect * r["reconnects"] / nodes,
        publishes_per_shard=(r["person"] + r["agents"] + r["broadcast"]) / shards,
        deliveries_per_shard=deliveries / shards,
    )
