"""Model training, evaluation and scoring.

OpenMP's default busy-waiting makes 2-thread XGBoost 5-7x *slower* on a shared machine (44 s vs
6 s for 200 trees, measured here); passive waiting must be set before xgboost is first imported,
which every module of this package does after this line.
"""

from data_engineering.src.environment import library_defaults

library_defaults(OMP_WAIT_POLICY="PASSIVE")
