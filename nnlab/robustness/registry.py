"""The attack registry: every attack module registers its class here under its CLI name."""

from __future__ import annotations

from nnlab.registry import Registry

ATTACKS = Registry("attack")
