"""pytest plugin (entry point ``amlyze_contracts``): runs the contract suite as pytest tests.

Options are registered here; the suite itself is imported only when a base URL is
given, so this project's own test runs (which load every installed plugin) pay
nothing. With ``pytest --amlyze-base-url URL`` (token from
``AMLYZE_CONTRACTS_TOKEN``), one test per operation and rule is added; the suite
runs once, at the first of them, and each test reports its rule's outcome, so
pytest's own ``--junitxml`` gives one testcase per operation and rule. A rule that
failed only irreproducibly passes with a :class:`ContractFlaky` warning.

A misconfigured run (no token, a misspelt config key, the server unreachable, the
credentials rejected, no operation at the base URL) stops pytest with exit code 2
and one line naming the cause, as ``amlyze-contracts test`` does; the preflight that
detects most of it runs at collection, before any test is listed.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from .contract.runner import RunResult

_RESULT_KEY = "_amlyze_contracts_result"
EXIT_MISCONFIGURED = 2  # as the CLI's


def _stop(cause: object) -> NoReturn:
    pytest.exit(f"amlyze-contracts: {cause}", returncode=EXIT_MISCONFIGURED)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("amlyze-contracts", "contract-test an AMLYZE / BRM implementation")
    group.addoption(
        "--amlyze-base-url", metavar="URL", help="server root; enables the contract suite"
    )
    group.addoption("--amlyze-brm-base-url", metavar="URL", help="BRM base URL")
    group.addoption("--amlyze-only", nargs="+", metavar="OPERATION_ID", help="operations to test")
    group.addoption("--amlyze-max-examples", type=int, metavar="N", help="examples per phase")
    group.addoption("--amlyze-time-budget", type=float, metavar="SECONDS", help="whole-run budget")
    group.addoption("--amlyze-seed", type=int, metavar="N", help="Hypothesis seed")
    group.addoption("--amlyze-config", metavar="FILE", help="TOML fixtures / classifiers")
    group.addoption("--amlyze-read-only", action="store_true", default=None, help="send no writes")
    group.addoption(
        "--amlyze-revision",
        metavar="DATE|latest|auto",
        help="vendor revision to test (auto: worked out from the server's answers)",
    )


class ContractCollector(pytest.Collector):
    def collect(self) -> list[pytest.Item]:  # pragma: no cover - items are made directly
        return []


class ContractItem(pytest.Item):
    def __init__(self, *, operation: str, rule: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.operation = operation
        self.rule = rule

    def runtest(self) -> None:
        result = _result(self.config)
        stat = result.stats.get((self.operation, self.rule))
        if stat is None or stat.examples == 0:
            pytest.skip(f"no example reached {self.rule}")
        from .contract.report import format_failure

        if stat.failures and (stat.worst == "error" or result.options.fail_on == "warning"):
            record = stat.smallest
            detail = format_failure(record) if record is not None else ""
            raise ContractViolation(
                f"{self.rule} failed {stat.failures} of {stat.examples} examples\n{detail}"
            )
        if stat.flaky and stat.flaky_record is not None:
            warnings.warn(
                ContractFlaky(
                    f"{self.rule}: {stat.flaky} of {stat.examples} examples failed once but "
                    f"not when re-sent\n{format_failure(stat.flaky_record)}"
                ),
                stacklevel=1,
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ContractViolation):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "amlyze-contracts", None, f"{self.operation}::{self.rule}"


class ContractViolation(AssertionError):
    """A server rule did not hold."""


class ContractFlaky(UserWarning):
    """A failure that did not reproduce when re-sent on a fresh connection."""


def _options(config: pytest.Config) -> Any:
    import argparse

    from .commands.test_cmd import build_options

    args = argparse.Namespace(
        base_url=config.getoption("amlyze_base_url"),
        brm_base_url=config.getoption("amlyze_brm_base_url"),
        token=None,
        only=config.getoption("amlyze_only"),
        max_examples=config.getoption("amlyze_max_examples"),
        time_budget=config.getoption("amlyze_time_budget"),
        timeout=None,
        seed=config.getoption("amlyze_seed"),
        config=config.getoption("amlyze_config"),
        read_only=config.getoption("amlyze_read_only"),
        fail_on="error",
        no_schemathesis=False,
        revision=config.getoption("amlyze_revision"),
    )
    return build_options(args)


def _result(config: pytest.Config) -> RunResult:
    cached: RunResult | None = getattr(config, _RESULT_KEY, None)
    if cached is None:
        from .contract.config import Misconfigured

        try:
            cached = config.stash[_RUNNER].run()
        except Misconfigured as exc:
            _stop(exc)
        setattr(config, _RESULT_KEY, cached)
    return cached


_RUNNER = pytest.StashKey[Any]()  # the Runner, preflight done
_DETECTED = pytest.StashKey[str]()  # --amlyze-revision auto: what was found


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("amlyze_base_url", default=None):
        return  # not asked for: no tests, no imports of the suite
    from .extras import MissingExtra, require

    try:
        require("contract", "pytest --amlyze-base-url")
    except MissingExtra as exc:
        raise pytest.UsageError(str(exc)) from None
    from .contract.checks import rules_for_operation
    from .contract.config import ConfigError, Misconfigured
    from .contract.suite import make_runner

    try:
        options = _options(config)
        runner = make_runner(options, progress=None)
        runner.preflight()  # a misconfigured run stops here, before any test is listed
    except (ConfigError, Misconfigured) as exc:
        _stop(exc)
    config.stash[_RUNNER] = runner
    options = runner.options  # the operations of the revision (auto: the one detected)
    if runner.result.detected:
        config.stash[_DETECTED] = runner.result.detected
    collector = ContractCollector.from_parent(session, name="amlyze-contracts")
    for operation in options.operations:
        for rule in rules_for_operation(operation, read_only=options.read_only):
            items.append(
                ContractItem.from_parent(
                    collector, name=f"{operation}::{rule}", operation=operation, rule=rule
                )
            )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    result: RunResult | None = getattr(config, _RESULT_KEY, None)
    if _DETECTED in config.stash:
        terminalreporter.write_line(f"amlyze-contracts: {config.stash[_DETECTED]}")
    if result is not None:
        terminalreporter.write_line(
            f"amlyze-contracts: run id {result.run_id}, seed {result.seed} "
            f"(replay: --amlyze-seed {result.seed}), {result.requests} requests"
            + (f", revision {result.options.revision}" if result.options.revision else "")
        )
