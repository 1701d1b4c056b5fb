"""The same-event model: a logistic regression over the pair features, read from model.json.

`scripts/fit_story_model.py` refits it on the labelled pairs and writes the JSON; the runtime only reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np  # imported where the model scores pairs: StoryParams and Story need only the JSON

MODEL_PATH = Path(__file__).with_name("model.json")


@dataclass(frozen=True)
class Model:
    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    threshold: float  # probability at which two articles are one event (calibrated on the training pairs)
    floor: float  # average linkage: no article joins a story with a pair below this (no chaining)
    candidate_words: float  # a pair below both candidate cosines cannot reach the threshold: never compared
    candidate_names: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        return x @ np.asarray(self.weights) + self.intercept

    def probability(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    def may_reach(self, known: Mapping[str, np.ndarray], threshold: float) -> np.ndarray:
        """Whether each pair can reach `threshold` given some of its features, the others at their most
        favourable (every feature is in [0, 1] or, for `days`, has a weight that only lowers the odds)."""
        import numpy as np

        weights = dict(zip(self.features, self.weights))
        rest = sum(max(w, 0.0) for name, w in weights.items() if name not in known)
        logit = sum(weights[name] * values for name, values in known.items()) + rest + self.intercept
        return logit >= np.log(threshold / (1.0 - threshold)) - 1e-9

    def explain(self, row: np.ndarray) -> dict:
        """The pair's features, each with its value and its contribution (weight · value) to the log-odds."""
        import numpy as np

        z = float(self.logits(row[None, :])[0])
        return {"probability": round(float(1.0 / (1.0 + np.exp(-z))), 3), "intercept": round(self.intercept, 3),
                "features": {name: {"value": round(float(v), 3), "contribution": round(float(w * v), 3) + 0.0}
                             for name, v, w in zip(self.features, row, self.weights)}}


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> Model:
    doc = json.loads(path.read_text())
    return Model(tuple(doc["features"]), tuple(doc["weights"]), doc["intercept"], doc["threshold"],
                 doc.get("floor", 0.0), doc["candidates"]["words"], doc["candidates"]["names"])
