"""TensorBoard: one event folder per experiment, ``<logdir>/<run id>/<experiment>``.

Each holds the per-epoch scalars (``loss/train``, ``loss/val``, ``accuracy/…``, ``lr``; step = epoch), the
experiment's hparams (its flattened spec) with its final figures as the hparams' metrics (``final/…``), and
the validation confusion matrix as an image. ``tensorboard --logdir <logdir>/<run id>`` compares the
experiments of one run; ``--logdir <logdir>`` every run.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from practica.config.schema import TensorboardSpec
from practica.tracking.records import ExperimentLog, SuiteLog, epoch_figures


def default_logdir(runs_root: Path) -> Path:
    return runs_root / "tensorboard"


class TensorboardTracker:
    label = "TensorBoard"

    def __init__(self, spec: TensorboardSpec, *, run_id: str, runs_root: Path) -> None:
        self.root = (spec.logdir or default_logdir(runs_root)) / run_id

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def where(self) -> str:
        return f"TensorBoard events in {self.root}"

    def experiment(self, log: ExperimentLog) -> None:
        import numpy as np
        from PIL import Image
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams

        folder = self.root / log.name
        if folder.exists():  # a resumed run logs the experiment again, whole; its earlier events go
            shutil.rmtree(folder)
        writer = SummaryWriter(log_dir=str(folder))
        try:
            last = 0
            if log.history is not None:
                for record in log.history.epochs:
                    for tag, value in epoch_figures(record).items():
                        writer.add_scalar(tag, value, record.epoch)
                    last = record.epoch
            final = {f"final/{k}": v for k, v in log.metrics.items()}
            # Written into this folder (SummaryWriter.add_hparams would open a sub-folder per call).
            events = writer.file_writer
            assert events is not None  # opened by SummaryWriter's constructor
            for event in hparams(dict(log.params), final):
                events.add_summary(event)
            for tag, value in final.items():
                writer.add_scalar(tag, value, last)
            for key, text in log.tags.items():
                if key.startswith("practica.") and key != "practica.error":
                    writer.add_text(key, text, last)
            if log.confusion is not None:
                from practica.reporting.plots import confusion_matrix

                png = confusion_matrix(log.confusion, log.classes, title=f"{log.name}: validation")
                image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
                writer.add_image("confusion/val", image, last, dataformats="HWC")
        finally:
            writer.close()

    def finish(self, log: SuiteLog) -> None:
        """The decision in words, beside the experiments (TensorBoard's text tab)."""
        from torch.utils.tensorboard import SummaryWriter

        from practica.tracking.records import decision_text

        with SummaryWriter(log_dir=str(self.root / "decision")) as writer:
            # TensorBoard's text tab reads Markdown: a blank line between lines keeps them apart.
            writer.add_text("decision", decision_text(log.decision).replace("\n", "\n\n"))
