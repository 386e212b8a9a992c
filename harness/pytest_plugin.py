"""pytest plugin: scenario YAML files as test items, the runner as fixtures."""
