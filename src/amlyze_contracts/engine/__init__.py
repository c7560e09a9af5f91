"""The validator engine, in layers (docs/ARCHITECTURE.md walks one request through):

* :mod:`.api`: the front door, ``validate_request`` / ``validate_response``;
* :mod:`.shapes`: which operation and shape a body is (the CLI uses it too);
* :mod:`.compiler`: an operation's schemas and rules compiled once, cached;
* :mod:`.codegen`: the rules as generated Python source, with its sentinels;
* :mod:`.schema`: the schema as msgspec Structs (fast) and jsonschema-rs (slow);
* :mod:`.fast`, :mod:`.fast_columns`: the fast path, "no violation at all" or doubt;
* :mod:`.slow`, :mod:`.slow_columns`, :mod:`.jsoninput`: the slow path, every
  violation with its position.

The rule catalogue it compiles is :mod:`amlyze_contracts.catalogue`; the rule
language's conditions are :mod:`amlyze_contracts.conditions`. The public names are
re-exported by the package root (``from amlyze_contracts import validate_request``);
this package itself imports nothing, so importing one layer stays cheap.
"""
