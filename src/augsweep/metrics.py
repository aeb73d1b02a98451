"""The names of what a run measures, spelled once: per-epoch curves and end-of-run figures.

Stdlib only: the report, the statistics and the run all read them from here.
"""

from __future__ import annotations

# Per epoch (step = 0-based epoch). `clean_*` is the un-augmented training data, evaluated
# like the validation split; `gap` = clean_accuracy - val_accuracy.
VAL_ACCURACY = "val_accuracy"
VAL_LOSS = "val_loss"
CLEAN_ACCURACY = "clean_accuracy"
CLEAN_LOSS = "clean_loss"
GAP = "gap"
CURVES = (CLEAN_ACCURACY, VAL_ACCURACY, CLEAN_LOSS, VAL_LOSS)  # the report's curve plots

# End of run, logged at step SUMMARY_STEP in every run: MLflow's Chart view draws a metric
# that no run has above step 0 as bars per run or group (above it: lines over steps).
SUMMARY_STEP = 0
BEST_VAL_ACCURACY = "best_val_accuracy"
BEST_EPOCH = "best_epoch"
FINAL_VAL_ACCURACY = "final_val_accuracy"
FINAL_CLEAN_ACCURACY = "final_clean_accuracy"
FINAL_GAP = "final_gap"
TEST_ACCURACY = "test_accuracy"
TEST_LOSS = "test_loss"
# In a search trial's summary (job record) when its pruner stopped it: the last epoch trained.
PRUNED_AT = "pruned_at_epoch"
SUMMARY = (
    BEST_VAL_ACCURACY, BEST_EPOCH, FINAL_VAL_ACCURACY, FINAL_CLEAN_ACCURACY, FINAL_GAP,
    TEST_ACCURACY, TEST_LOSS,
)  # fmt: skip
# What the report compares between groups, in the order it shows them.
COMPARED = (BEST_VAL_ACCURACY, FINAL_VAL_ACCURACY, FINAL_CLEAN_ACCURACY, FINAL_GAP, TEST_ACCURACY)
# The paired comparisons: metric and direction (+1: higher is better, -1: lower is better).
# Validation accuracy is the FINAL one, not the best: the best is the maximum of a noisy
# curve, picked by looking at the validation set itself, so it favours whichever policy
# fluctuates more; the final one is measured like the gap (last epoch) and selects nothing.
PAIRED = ((FINAL_VAL_ACCURACY, 1), (TEST_ACCURACY, 1), (FINAL_GAP, -1))
LABELS = {
    BEST_VAL_ACCURACY: "best val acc.",
    FINAL_VAL_ACCURACY: "final val acc.",
    FINAL_CLEAN_ACCURACY: "final clean-train acc.",
    FINAL_GAP: "final gap",
    TEST_ACCURACY: "test acc.",
}
