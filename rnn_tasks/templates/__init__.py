"""Task templates: the `Task` base class and one template per RNN architecture."""

from rnn_tasks.templates.captioning import CaptioningTask
from rnn_tasks.templates.forecasting import ForecastingTask
from rnn_tasks.templates.sentiment import SentimentTask
from rnn_tasks.templates.encoder_decoder import EncoderDecoderTask
from rnn_tasks.templates.task import TASKS, Task
from rnn_tasks.templates.translation import TranslationTask

__all__ = ["Task", "ForecastingTask", "SentimentTask", "TranslationTask", "CaptioningTask",
           "EncoderDecoderTask", "TASKS"]
