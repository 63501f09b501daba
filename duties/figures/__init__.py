"""Performance figures: response times against grade targets, demand, utilisation, and the
demand forecast beside the roster (docs/stats.md).

Lives in `duties` because the figures need incidents, units and rosters together, and `duties`
is the lowest layer that sees all three. It only reads.
"""
