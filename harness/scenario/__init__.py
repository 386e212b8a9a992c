"""Scenario format: models, YAML loading with located errors, cross-file validation, JSON Schema."""

from harness.scenario.loader import (
    is_scenario_file,
    load_agent_config,
    load_scenario,
    load_suite,
    load_yaml_model,
    scenario_files,
    validate_paths,
)
from harness.scenario.models import AgentConfig, Expectation, Scenario, Turn
from harness.scenario.schema import (
    agent_config_reference_markdown,
    json_schema,
    scenario_reference_markdown,
)

__all__ = [
    "AgentConfig",
    "Expectation",
    "Scenario",
    "Turn",
    "agent_config_reference_markdown",
    "is_scenario_file",
    "json_schema",
    "load_agent_config",
    "load_scenario",
    "load_suite",
    "load_yaml_model",
    "scenario_files",
    "scenario_reference_markdown",
    "validate_paths",
]
