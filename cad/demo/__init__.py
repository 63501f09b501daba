"""London demo data for `manage.py seed_demo`: the data lives here, the loader in the command.

Everything is plain Python data, deterministic and hand-checked against public sources
(borough and station positions are approximate). See docs/demo-data.md.
"""
