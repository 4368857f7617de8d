"""Global deep forecasters (DeepAR+ and CNN-QR), trained across all series at once.

Unlike ``forecasting.models`` (one series in, one forecast out), these models
learn from every item together, which is what lets them share seasonal shapes,
use item metadata and related series, and forecast cold-start items. They need
PyTorch and run on a CUDA GPU with mixed precision when there is one, on the CPU
otherwise, with the same code.

* :mod:`.windows` turns many series into model-ready windows (scaling, lags,
  calendar and age features, related data, metadata codes);
* :mod:`.likelihoods` holds the output distributions;
* :mod:`.deepar` is the DeepAR+ model and :mod:`.cnnqr` the CNN-QR model, each
  ``fit`` then ``predict``, saved and loaded through :mod:`.common`, which also
  holds what they share (metadata codes, scale fallback, the training loop).
"""
