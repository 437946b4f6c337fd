"""Spark's Python daemon for ``--engine spark`` (``spark.python.daemon.module``): pyspark's own,
after importing this project's packages, so that every Python worker it forks has them.

A worker that loads the registered model puts the model's code bundle (MLflow's ``code_paths``: a
subset of these packages, as of training) first on ``sys.path``. Where the packages are imported
already, that changes nothing: the screening steps and the model's pyfunc then run one and the same
code, this checkout's (``env_manager="local"``: the local environment), and a worker reused for
another step still finds every module. Without this, a fresh worker that scored first would import
the bundle's partial copy, and the next step run by it would miss ``data_science.score_db``.
"""

from pyspark.daemon import manager

import data_engineering.src
import data_science

__all__ = ["data_engineering", "data_science"]  # imported for their side effect: see above

if __name__ == "__main__":
    manager()
