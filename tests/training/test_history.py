"""History's records keep each task's per-epoch figures, and read those written before they were task-keyed."""

from __future__ import annotations

import math

import pytest

from practica.training.history import HISTORY, EpochRecord, History, stored_records

NAN = math.nan
# As the previous code wrote them: every task's figures a field of the record, the other task's NaN or null.
OLD_CLASSIFICATION = {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 0.9, "val_accuracy": None,
                      "lr": 0.1, "seconds": 2.0, "train_r2": None, "val_r2": None, "val_mae": None}
OLD_REGRESSION = {"epoch": 1, "train_loss": 0.4, "train_accuracy": NAN, "val_loss": 0.5, "val_accuracy": None,
                  "lr": 0.1, "seconds": 2.0, "train_r2": 0.6, "val_r2": None, "val_mae": 3.5}


def test_an_old_classification_history_reads_into_its_accuracies():
    h = HISTORY.validate_python({"epochs": [OLD_CLASSIFICATION], "stop_reason": "completed", "best_epoch": 1})
    assert h.task == "classification" and h.best_epoch == 1
    assert h.epochs[0].metrics.keys() == {"train_accuracy", "val_accuracy"}
    assert h.column("train_accuracy") == [0.5] and math.isnan(h.column("val_accuracy")[0])  # null: NaN, as before
    assert h.to_csv().splitlines() == ["epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds",
                                       "1,1.0,0.5,0.9,nan,0.1,2.0"]


def test_an_old_regression_history_reads_into_its_r2_and_mae():
    h = HISTORY.validate_python({"epochs": [OLD_REGRESSION]})
    assert h.task == "regression" and h.epochs[0].metrics.keys() == {"train_r2", "val_r2", "val_mae"}
    assert h.column("val_mae") == [3.5] and math.isnan(h.column("val_r2")[0])
    assert h.to_csv().splitlines()[0] == "epoch,train_loss,val_loss,lr,seconds,train_r2,val_r2,val_mae"


def test_a_history_round_trips_and_its_records_name_only_their_task_s_figures():
    record = EpochRecord(1, 1.0, 0.9, 0.1, 2.0, {"train_r2": 0.2, "val_r2": 0.1, "val_mae": 4.0})
    h = History((record,), best_epoch=1, extra={"lookahead": 0.5})
    assert HISTORY.validate_python(HISTORY.dump_python(h)) == h
    stored = list(HISTORY.dump_python(h)["epochs"])
    assert stored_records(stored) == stored  # the new shape passes as it is
    with pytest.raises(KeyError, match="val_accuracy"):  # a regression's record has no accuracy
        record.value("val_accuracy")

