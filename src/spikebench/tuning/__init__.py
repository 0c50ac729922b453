"""Hyper-parameter search (Optuna) over an experiment's ``[search]`` table.

:mod:`.space` declares and validates the search space; :mod:`.study` runs the shared
study (TPE sampler, median or hyperband pruning on per-epoch validation accuracy, SQLite
or PostgreSQL storage) and retrains the best trial once on the test split.
"""

from spikebench.tuning.space import ParamSpec, SearchSpec, parse_search, trial_config
from spikebench.tuning.study import SearchError, finish_search, run_search, search_summary

__all__ = ["ParamSpec", "SearchSpec", "parse_search", "trial_config", "SearchError",
           "run_search", "finish_search", "search_summary"]
