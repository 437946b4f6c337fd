"""Rolling-origin backtest: how a pipeline answers on bookings later than its training data.

``backtest.folds`` consecutive windows of ``backtest.fold_months`` months of arrivals, the last
ending with the newest month. For each window the *whole* pipeline — snapshots, categories,
recency weights, booster — is fitted on every arrival before it (the outcomes known at its
cut-off) and asked the two questions a hotel asks (``Fold.populations``):

- **at booking** (``creation``): every booking arriving in the window, judged the day it was
  made — today's question; among them the bookings made after the cut-off are the ones a
  deployed model scores as they come in (``booked_after_cutoff``);
- **on the books** (``on_the_books``): the bookings on the books at the end of the cut-off's last
  day (made by then, arriving in the window, not cancelled), judged as of that day — and, summed
  per hotel and night, the nightly forecast a revenue manager overbooks on.

Their out-of-fold (OOF) predictions are the only data the pipeline's choices are made on:

- the number of trees: one long fit per fold, both populations' ROC AUC after every
  ``checkpoint_every`` trees (XGBoost's evaluation cache), the size with the best mean;
- the calibration (``train.calibration``, per head): none, or Platt scaling of the pooled OOF
  margins at that size;
- the decision threshold: F1-max (or lowest expected cost) on the pooled calibrated OOF
  probabilities at booking (today's decision).

The champion is refit on all arrivals with the choices made on every fold (``train.py``). Each
fold, though, is *reported* at choices made on the other folds only (cross-fitting): its size,
calibration and threshold never saw its own bookings, so its figures are what those choices give
on bookings they were not made on — the figures a user gets.

The modules: ``params`` (the typed ``params.yaml`` sections), ``folds`` (the windows, recency
weights, the threshold rule, the booster's fit), ``reports`` (out-of-fold predictions and each
fold's figures) and ``run`` (the folds fitted, the choices made out of fold, the two heads).
"""
