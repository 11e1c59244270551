"""Callbacks: hooks that run during ``Model.fit`` (Keras's names and arguments).

``fit`` calls, in order: ``on_train_begin``; per epoch ``on_epoch_begin``, per batch
``on_train_batch_begin``/``on_train_batch_end``, then ``on_epoch_end`` with the epoch's logs (loss,
metrics, val_loss, val_metrics, lr); finally ``on_train_end``.  A callback stops training by setting
``self.model.stop_training = True``.  When training is interrupted (Ctrl-C), ``on_train_end`` gets
``logs["interrupted"] = True`` and ModelCheckpoint saves the model as it is.
"""

from le4nn.callbacks.averaging import WeightAverage
from le4nn.callbacks.core import Callback, CallbackList, History, callback_sequence
from le4nn.callbacks.csv_logger import CSVLogger
from le4nn.callbacks.monitors import EarlyStopping, LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau
from le4nn.callbacks.progress import ProgressBar
from le4nn.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LearningRateScheduler",
           "ModelCheckpoint", "ProgressBar", "ReduceLROnPlateau", "TerminateOnNaN", "WeightAverage",
           "callback_sequence"]
