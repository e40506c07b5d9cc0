"""SavedModel export for TF Serving: atomic versions, warmup records, op checks."""

from rnn_tasks.export.saved_model import export_task, next_version, non_core_ops

__all__ = ["export_task", "next_version", "non_core_ops"]
