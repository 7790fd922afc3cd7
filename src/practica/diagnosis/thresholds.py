"""Every threshold the diagnosis rules use, with why it has that value.

Accuracies and gaps are fractions (0.05 is 5 points); loss changes are relative (0.10 is +10%).
They were set on CIFAR-10-like curves: validation accuracy noisy by about ±1 point an epoch,
validation loss by about ±3%, and a training loss that is the epoch mean with augmentation and
dropout on (smooth, but biased high, so train and val losses are never compared directly).
docs/diagnosis.md explains each one to users; keep the two in step.
"""

# ------------------------------------------------------------------ smoothing
SMOOTH_EPOCHS = 3
# Width of every smoothed read (window means, centred moving averages). Three epochs cut the
# ±1-point noise of validation accuracy to about ±0.6 while lagging a trend by only one epoch;
# in a 10-30-epoch run that is short enough to still locate a minimum.

# ------------------------------------------------------------------ diverged
DIVERGE_START_MULTIPLE = 1.5
# Final train loss at 1.5× the first epoch's is a blow-up: the first epoch's mean already
# includes the untrained start, so a healthy run never climbs back above it, and a learning-rate
# warm-up or a one-cycle peak moves the epoch mean by a few percent, not by half.
DIVERGE_UNIFORM_MULTIPLE = 2.0
# Final train loss at twice ln(classes), the loss of a uniform guess, means confidently wrong
# predictions: no model that is learning gets there, even in its first epoch.
DIVERGE_COLLAPSE_LOSS_MULTIPLE = 2.0
DIVERGE_COLLAPSE_ACC_DROP = 0.20
# A run that learned, then lost it: final train loss at twice its lowest and train accuracy
# 20 points below its best. Epoch means of train accuracy move by a point or two between epochs
# in a healthy run; losing 20 is the model collapsing (often to one predicted class).

# ------------------------------------------------------------------ underfitting: never learned
NEAR_CHANCE_LIFT = 0.05
# "At chance": neither the best smoothed val accuracy nor the final train accuracy got 5% of the
# way from chance to 100% (under 14.5% for 10 classes, under 52.5% for 2). Any model that learns
# anything clears that in its first epoch.
NEVER_LEARNED_MIN_EPOCHS = 3
# "Barely moved" needs a few epochs to compare against epoch 1.
NEVER_LEARNED_LOSS_DROP = 0.05
NEVER_LEARNED_UNIFORM_SHARE = 0.90
# Train loss that fell less than 5% from epoch 1 and still sits at 90% or more of ln(classes)
# never left the uniform guess. The second condition spares a model that learned in epoch 1 and
# then stalled (its loss is far below ln(classes)): that is a plateau, not "never learned".

# ------------------------------------------------------------------ underfitting: far below the reference
UNDERFIT_HEADROOM_SHARE = 0.20
UNDERFIT_MIN_SHORTFALL = 0.05
# Underfitting when the run's best fit (the higher of its final train and val accuracy) falls
# short of the reference by a fifth of the distance from chance to the reference, and by at
# least 5 points: 14.6 points for a reference of 83% on 10 classes. A model within that distance
# is a reasonable contender; the 5-point floor keeps noise and the augmentation bias of train
# accuracy (a few points) from counting when the reference sits close to chance.
SMALL_GAP = 0.05
# A train-val accuracy gap under 5 points is "small": the model generalizes what it fits.

# ------------------------------------------------------------------ overfitting
OVERFIT_VAL_RISE = 0.10
# Val loss 10% above its smoothed minimum, over the last epochs: the 3-epoch mean of a ±3%-noisy
# loss moves by about ±2%, and the minimum of a smoothed curve is biased low by about as much,
# so 10% is several noise widths away from a flat curve.
OVERFIT_VAL_RISE_EARLY_STOP = 0.05
# When early stopping ended the run, it has already established that val loss stopped improving
# for `patience` epochs; what is left to tell is "rising" from "flat", and only `patience`
# epochs of rise were recorded, so half the margin is enough.
OVERFIT_TRAIN_DROP = 0.05
# ...while train loss (smoothed) fell at least 5% over the same epochs: the model kept fitting
# the training set. A val loss that rises with train loss flat or rising is not overfitting.
OVERFIT_MIN_EPOCHS_AFTER_MIN = 2
# The minimum must be at least 2 epochs before the end, or there is no rise to read.
ACC_HELD = 0.01
# When val loss rises but val accuracy stays within a point (one epoch's noise) of its value at
# the loss minimum, the evidence says so: the model grows over-confident before it grows wrong.
OVERFIT_GAP = 0.10
OVERFIT_GAP_GROWTH = 0.03
# Or: a final train-val accuracy gap of 10 points or more that grew by 3 points or more since
# mid-run. Train accuracy is measured with augmentation and dropout on, which shrinks the gap,
# so 10 points is a real one; "growing" (3 points, well above the ±0.8-point noise of a
# difference of two 3-epoch means) separates a widening split from a stable offset.
OVERFIT_GAP_MIN_EPOCHS = 4
# Growth is read between two windows of at least 2 epochs (mid-run and the end): 4 epochs.
FIT_OVERFIT_GAP = 0.10
# The same gap for a model without epochs (scikit-learn). No growth can be read there.

# ------------------------------------------------------------------ undertrained
UNDERTRAINED_FIT_EPOCHS = 8
UNDERTRAINED_ACC_RATE = 0.005
# Val accuracy climbing half a point an epoch or more, by a straight-line fit through the last 8
# epochs, when the epoch budget ran out: ten more epochs at that rate are worth several points.
# The fit is the least noisy slope the curve offers (±0.12 points an epoch for ±0.8-point noise,
# against ±0.22 for the difference of two 3-epoch means), so a run creeping up a quarter point an
# epoch is called undertrained in about 2% of noise draws, a run climbing 0.7 in about 95%.
UNDERTRAINED_LOSS_RATE = 0.02
# Or val loss falling 2% an epoch by the same fit (on its logarithm, ±0.5% an epoch for ±3%
# noise) while val accuracy climbs at least half the rate above: loss alone also falls as a
# model grows more confident in answers it already gets right.
UNDERTRAINED_STILL_RISING = 0.5
# ...and the last 3 epochs still improved on the 3 before at half that rate or more: a line
# through a curve that is bending flat overstates its current slope.
ANNEALED_LR_SHARE = 0.10
UNDERTRAINED_ANNEALED_FACTOR = 3.0
# When the learning rate ended at 10% of its peak or less (cosine, one-cycle, step), the last
# epochs gain from the annealing itself (commonly up to a point an epoch), which is not evidence
# of a cut-off run: the rates above are then tripled (1.5 points an epoch, 6% of loss an epoch).

# ------------------------------------------------------------------ plateau
PLATEAU_EPOCHS = 5
# "Several epochs": the default early-stopping patience, and long enough that a real trend
# shows through ±1-point noise.
PLATEAU_LOSS_DELTA = 0.02
PLATEAU_ACC_DELTA = 0.01
# No progress: the mean over the last 5 epochs is not better than the best 3-epoch mean before
# them by more than 2% of val loss or 1 point of val accuracy. The best earlier mean is biased
# toward luck and the 5-epoch mean is not, so a flat ±3%-noisy curve reads "no progress" in
# about 98% of noise draws; a model still improving faster than that also lowers its train
# loss, which the next condition catches.
PLATEAU_TRAIN_DROP = 0.03
# ...with train loss down less than 3% across those 5 epochs: a model still learning under a
# constant learning rate lowers its epoch-mean train loss by 1-5% an epoch. Not read when the
# learning rate already annealed (ANNEALED_LR_SHARE): a flat end is then convergence, and a
# step down in learning rate, the plateau's cure, has already been taken.

# ------------------------------------------------------------------ facts
SPIKE_MULTIPLE = 1.5
# A train loss 1.5× the previous epoch's that later came back down is reported as a spike (a
# fact, not a verdict: the run recovered). Healthy epoch-to-epoch changes are a few percent.
