"""Rummage from Python.

- `rummage.RummageClient`: the serving API (docs/api.md), standard library only;
- `rummage.artifacts`: the hand-off format for models trained elsewhere (docs/scientists.md; numpy, safetensors);
- `rummage.torch_tower`: Rummage's tower as a torch module (needs torch).
"""

from .client import (Explanation, FeatureContribution, IngestReply, Listing, Readiness, Recommendations, Reloaded, RummageClient, RummageError, ScoredItem,
                     SimilarItems, SurfaceRecommendations)

__all__ = ["RummageClient", "RummageError", "Recommendations", "SurfaceRecommendations", "Explanation", "FeatureContribution", "SimilarItems", "ScoredItem",
           "IngestReply", "Listing", "Readiness", "Reloaded"]
__version__ = "0.1.0"
