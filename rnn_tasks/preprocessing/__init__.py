"""Preprocessing layers that run inside the saved and exported models (core TF ops only):
`EncodeHistory` / `DecodeForecast` (forecasting's scale-free encoding), `Tokenize`
(words and symbols of text), `DecodeImages` (PNG/JPEG bytes to pixels)."""

from rnn_tasks.preprocessing.images import DecodeImages
from rnn_tasks.preprocessing.scaling import DecodeForecast, EncodeHistory
from rnn_tasks.preprocessing.text import Tokenize

__all__ = ["EncodeHistory", "DecodeForecast", "Tokenize", "DecodeImages"]
