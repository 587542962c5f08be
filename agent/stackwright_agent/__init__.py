"""Stackwright node agent: the only code on a node that changes KVM domains,
Linux bridges and LVM. It serves a declarative HTTP/JSON API on a root-only
Unix socket; see ``api.py`` for the endpoints."""

__version__ = "0.1.0"
