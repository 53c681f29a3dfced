"""Embedded default world: a 2-degree global world built from real global data on PyPI
(see `build.py`) and a deterministic daily forcing generator (see `weather.py`).

    from bgctestbed.world import load_world
    world = load_world()              # the committed file under bgctestbed/data/world
    world.sites                       # bgctestbed.sites.Sites
    world.forcing(1901)               # bgctestbed.sites.Forcing, 365 days
"""

from .world import DEFAULT_PATH, World, load_world

__all__ = ["DEFAULT_PATH", "World", "load_world"]
