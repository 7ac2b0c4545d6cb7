"""Run directories (config.json, metrics.csv, summary.json) written atomically."""

from .rundir import RunRecord, json_safe, load_run, run_config_record, write_run

__all__ = ["RunRecord", "json_safe", "load_run", "run_config_record", "write_run"]
