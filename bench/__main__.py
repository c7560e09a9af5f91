"""Run every benchmark, one after the other: ``python -m bench`` (or ``make bench``).

Each prints a Markdown table of side-by-side measurements from one run, with the
ratios the targets are stated in; docs/BENCHMARKS.md records a run of this command.
``python -m bench NAME...`` runs only the named ones; options after the names
(``python -m bench contract --seeds 20``) are passed to each.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "validate": (
        "bench.validate_throughput",
        "validator on a 10,000-item body vs orjson/openapi-core",
    ),
    "cli": ("bench.cli_vs_check_jsonschema", "validate CLI vs check-jsonschema"),
    "server": ("bench.server_throughput", "reference server throughput"),
    "proxy": ("bench.proxy_latency", "validating proxy: added latency and throughput vs direct"),
    "hooks": (
        "bench.client_hooks",
        "client hooks and ASGI middleware: added time per exchange vs the validation itself",
    ),
    "contract": (
        "bench.contract_suite",
        "contract suite run time and bug detection vs schemathesis",
    ),
    "hostile": (
        "bench.hostile_servers",
        "contract suite against hostile servers: wall time vs budget, peak memory",
    ),
}


def main(argv: list[str]) -> int:
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option] or list(BENCHMARKS), argv[first_option:]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    status = 0
    for name in names:
        module_name, title = BENCHMARKS[name]
        print(f"\n## {name}: {title}\n", flush=True)
        module = importlib.import_module(module_name)
        status |= int(module.main(options))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
