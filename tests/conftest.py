"""The collection's tests share their fixtures with the agent's (tests/fixtures.py)."""

from fixtures import (
    agent_config,
    agent,
    node_state_dir,
    collections,
    listener,
    netns,
    libvirt_netns,
    silent_bmc,
)

# pytest finds fixtures by name in this module
__all__ = ["agent_config", "agent", "node_state_dir", "collections", "listener", "netns", "libvirt_netns", "silent_bmc"]
