"""Python client for Rummage's serving API (docs/api.md). Standard library only."""

from .client import (IngestReply, Listing, Readiness, Recommendations, Reloaded, RummageClient, RummageError, ScoredItem,
                     SimilarItems)

__all__ = ["RummageClient", "RummageError", "Recommendations", "SimilarItems", "ScoredItem", "IngestReply", "Listing",
           "Readiness", "Reloaded"]
__version__ = "0.1.0"
