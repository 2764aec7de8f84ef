"""The Focused-DPO trainer behind ``fdpo train``.

Covers turning pairs into weighted token batches (``weights``, ``data``), the loss
(``loss``), cached reference log-probs (``refcache``), model loading and saving
(``modelio``), the order of pairs (``stream``) and work split across processes
(``spread``), the accelerate training loop (``loop``), its settings (``config``),
metrics (``metrics``) and their curves (``plots``). Does not cover making pairs
(``fdpo locate``) or evaluating the trained model (``fdpo eval``).
"""
