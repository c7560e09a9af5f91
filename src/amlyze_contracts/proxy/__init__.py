"""``amlyze-contracts proxy`` and HAR files: the contract checked on real exchanges.

- :mod:`.exchange`: which operation an exchange is, and its validation with the one
  rule set (shared by the proxy and ``validate --har``);
- :mod:`.har`: HAR 1.2 written as exchanges happen, and read back from any tool;
- :mod:`.http`: the bounded HTTP/1.1 plumbing (asyncio streams, no extra needed);
- :mod:`.server`: the proxy itself.
"""
