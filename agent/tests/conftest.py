"""The agent's tests share their fixtures with the collection's (tests/fixtures.py)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "tests"))

from fixtures import (  # noqa: E402
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
