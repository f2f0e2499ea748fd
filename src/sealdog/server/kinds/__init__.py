"""Model kinds: what the server can host, and how it validates and scores each kind.

`base` holds what every kind shares (errors, `ValidatedModel`, the `ScoreJob`, the `Kind`
protocol); one module per kind (`linear`, `xor`) implements it; `registry` maps the kind a
sealed-model manifest names to its implementation. Imports run one way:
base <- kind modules <- registry. A new scheme adds one kind module and one registry line.
"""
