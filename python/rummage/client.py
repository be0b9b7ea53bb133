"""A typed client for every operation of Rummage's serving API (openapi.yaml; docs/api.md)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union


class RummageError(Exception):
    """A non-2xx answer: the HTTP status, the server's message, and Retry-After (seconds) when it sent one."""

    def __init__(self, status: int, message: str, retry_after: Optional[int] = None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class ScoredItem:
    item: str
    score: float


@dataclass(frozen=True)
class Recommendations:
    """`getRecommendations`: the user's listings and which deployment ranked them."""
    user: str
    model_version: int
    items: List[ScoredItem]
    fallback: bool
    variant: str
    ranking_id: str
    experiment: Optional[str] = None
    reason: Optional[str] = None
    degraded: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class FeatureContribution:
    """One feature's part in a ranker's score for a listing (its SHAP value), with the feature's value."""
    name: str
    contribution: float
    value: Optional[float] = None


@dataclass(frozen=True)
class Explanation:
    """How a listing got its place: retrieval's source, score and 0-based rank among the candidates; the
    surface's ranker's score and the features that moved it most; with exploration the probability it was
    chosen for its slot; the re-ranking rules that moved it."""
    item: str
    source: str
    retrieval_score: float
    retrieval_rank: int
    ranker_score: Optional[float] = None
    propensity: Optional[float] = None
    rules: List[str] = field(default_factory=list)
    ranker_features: List[FeatureContribution] = field(default_factory=list)


@dataclass(frozen=True)
class SurfaceRecommendations:
    """`getSurfaceRecommendations`: a surface's list for a user, an anchor listing, or both."""
    surface: str
    model_version: int
    items: List[ScoredItem]
    fallback: bool
    variant: str
    ranking_id: str
    user: Optional[str] = None
    item: Optional[str] = None
    experiment: Optional[str] = None
    reason: Optional[str] = None
    degraded: List[str] = field(default_factory=list)
    explanations: List[Explanation] = field(default_factory=list)


@dataclass(frozen=True)
class SimilarItems:
    item: str
    model_version: int
    items: List[ScoredItem]


@dataclass(frozen=True)
class IngestReply:
    """What happened to each event: `refused` holds {"index", "error"} for those not taken."""
    appended: int
    duplicates: int
    refused: List[Dict[str, Any]]


@dataclass(frozen=True)
class Listing:
    item: str
    state: str
    seller: Optional[str] = None
    changed: Optional[bool] = None


@dataclass(frozen=True)
class Readiness:
    status: str
    model: str
    model_version: int
    indexed: int
    user_query: str
    variants: List[Dict[str, Any]]
    dependencies: Dict[str, str]
    experiment: Optional[str] = None


@dataclass(frozen=True)
class Reloaded:
    variant: str
    from_version: int
    to_version: int


def _filters(k: int, category: Optional[str], size: Optional[str], where: Optional[Mapping[str, str]], min_price: Optional[float],
             max_price: Optional[float]) -> Dict[str, Any]:
    query: Dict[str, Any] = {"k": k, "category": category, "size": size, "min_price": min_price, "max_price": max_price}
    if where:
        query["where"] = ",".join(f"{name}:{value}" for name, value in where.items())
    return query


def _items(values: Iterable[Mapping[str, Any]]) -> List[ScoredItem]:
    return [ScoredItem(item=v["item"], score=float(v["score"])) for v in values]


class RummageClient:
    """One method per operation; `api_key` is sent as `Authorization: Bearer KEY` (docs/security.md)."""

    # operationId (openapi.yaml) → method: kept in step with the specification by the tests.
    OPERATIONS = {
        "getRecommendations": "recommendations", "getSimilarListings": "similar", "getSurfaceRecommendations": "surface",
        "postEvents": "send_events",
        "createListing": "create_listing", "getListing": "listing", "changeListingState": "set_state",
        "reloadModel": "reload", "getDashboard": "dashboard", "getHealth": "health", "getReadiness": "ready",
        "getMetrics": "metrics",
    }

    def __init__(self, base_url: str = "http://127.0.0.1:8080", api_key: Optional[str] = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    # Recommendations

    def recommendations(self, user: str, k: int = 20, *, category: Optional[str] = None, size: Optional[str] = None,
                        where: Optional[Mapping[str, str]] = None, min_price: Optional[float] = None,
                        max_price: Optional[float] = None) -> Recommendations:
        query = _filters(k, category, size, where, min_price, max_price)
        d = self._json("GET", f"/v1/users/{_segment(user)}/recommendations", query=query)
        return Recommendations(user=d["user"], model_version=d["model_version"], items=_items(d["items"]), fallback=d["fallback"],
                               variant=d["variant"], ranking_id=d["ranking_id"], experiment=d.get("experiment"),
                               reason=d.get("reason"), degraded=d.get("degraded", []))

    def surface(self, surface: str, *, user: Optional[str] = None, item: Optional[str] = None, k: int = 20,
                category: Optional[str] = None, size: Optional[str] = None, where: Optional[Mapping[str, str]] = None,
                min_price: Optional[float] = None, max_price: Optional[float] = None, explain: bool = False) -> SurfaceRecommendations:
        """A surface's list (home, similar, new in, … as the server configures them; docs/serving.md)."""
        query = _filters(k, category, size, where, min_price, max_price)
        query.update({"user": user, "item": item, "explain": "true" if explain else None})
        d = self._json("GET", f"/v1/surfaces/{_segment(surface)}/recommendations", query=query)
        return SurfaceRecommendations(
            surface=d["surface"], model_version=d["model_version"], items=_items(d["items"]), fallback=d["fallback"],
            variant=d["variant"], ranking_id=d["ranking_id"], user=d.get("user"), item=d.get("item"), experiment=d.get("experiment"),
            reason=d.get("reason"), degraded=d.get("degraded", []),
            explanations=[Explanation(e["item"], e["source"], float(e["retrieval_score"]), e["retrieval_rank"], e.get("ranker_score"),
                                      e.get("propensity"), e.get("rules", []),
                                      [FeatureContribution(f["name"], float(f["contribution"]), f.get("value"))
                                       for f in e.get("ranker_features", [])]) for e in d.get("explanations", [])])

    def similar(self, item: str, k: int = 20) -> SimilarItems:
        d = self._json("GET", f"/v1/items/{_segment(item)}/similar", query={"k": k})
        return SimilarItems(item=d["item"], model_version=d["model_version"], items=_items(d["items"]))

    # Events and listings

    def send_events(self, events: Union[Mapping[str, Any], List[Mapping[str, Any]]]) -> IngestReply:
        """Sends one event or a list (docs/events.md); 207 (some refused) returns normally, listing them."""
        d = self._json("POST", "/v1/events", body=events)
        return IngestReply(appended=d.get("appended", d.get("published", 0)), duplicates=d.get("duplicates", 0),
                           refused=d.get("refused", []))

    def create_listing(self, item: str, seller: str, price: Optional[float] = None,
                       attributes: Optional[Mapping[str, str]] = None) -> IngestReply:
        body: Dict[str, Any] = {"seller": seller}
        if price is not None:
            body["price"] = price
        if attributes:
            body["attributes"] = dict(attributes)
        d = self._json("PUT", f"/v1/items/{_segment(item)}", body=body)
        return IngestReply(appended=d["appended"], duplicates=d["duplicates"], refused=d["refused"])

    def listing(self, item: str) -> Listing:
        d = self._json("GET", f"/v1/items/{_segment(item)}")
        return Listing(item=d["item"], state=d["state"], seller=d.get("seller"), changed=d.get("changed"))

    def set_state(self, item: str, state: str, seller: Optional[str] = None) -> Listing:
        """Moves a listing to `state` (sold, reserved, active, relisted, hidden, deleted); `changed` is False when
        it was already there (retries are safe)."""
        body = {"state": state} if seller is None else {"state": state, "seller": seller}
        d = self._json("PATCH", f"/v1/items/{_segment(item)}", body=body)
        return Listing(item=d["item"], state=d["state"], seller=d.get("seller"), changed=d.get("changed"))

    # Admin and operations

    def reload(self, alias: Optional[str] = None) -> Reloaded:
        d = self._json("POST", "/v1/admin/reload", body={"alias": alias} if alias else None)
        return Reloaded(variant=d["variant"], from_version=d["from"], to_version=d["to"])

    def health(self) -> Dict[str, Any]:
        return self._json("GET", "/healthz")

    def ready(self) -> Readiness:
        """The served model and each dependency's health; a replica that is not ready raises RummageError(503)."""
        d = self._json("GET", "/readyz")
        return Readiness(status=d["status"], model=d["model"], model_version=d["model_version"], indexed=d["indexed"],
                         user_query=d["user_query"], variants=d["variants"], dependencies=d.get("dependencies", {}),
                         experiment=d.get("experiment"))

    def metrics(self) -> str:
        return self._request("GET", "/metrics")[1].decode("utf-8")

    def dashboard(self) -> str:
        return self._request("GET", "/")[1].decode("utf-8")

    # HTTP

    def _json(self, method: str, path: str, query: Optional[Mapping[str, Any]] = None, body: Any = None) -> Any:
        _, data = self._request(method, path, query=query, body=body)
        return json.loads(data.decode("utf-8"))

    def _request(self, method: str, path: str, query: Optional[Mapping[str, Any]] = None, body: Any = None):
        url = self.base_url + path
        pairs = [(k, v) for k, v in (query or {}).items() if v is not None]
        if pairs:
            url += "?" + urllib.parse.urlencode(pairs)
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                answer = json.loads(payload.decode("utf-8"))
                refused = answer.get("refused") or []
                message = answer.get("error") or "; ".join(f"event {r.get('index')}: {r.get('error')}" for r in refused)
            except (ValueError, AttributeError):
                message = payload.decode("utf-8", "replace")
            retry = error.headers.get("Retry-After")
            if error.code == 207:  # some events refused: still an answer
                return error.code, payload
            raise RummageError(error.code, message, int(retry) if retry and retry.isdigit() else None) from None


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")
