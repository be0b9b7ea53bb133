"""The Python client against a live `rummage serve`: every operation, and the error cases."""

import re
import uuid
from pathlib import Path

import pytest

from rummage import (IngestReply, Listing, Readiness, Recommendations, Reloaded, RummageClient, RummageError, SimilarItems,
                     SurfaceRecommendations)

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"


@pytest.fixture
def client(server):
    base, key = server
    return RummageClient(base, api_key=key)


def test_every_operation_of_the_specification_has_a_method():
    ids = re.findall(r"^\s+operationId:\s*(\w+)\s*$", SPEC.read_text(), flags=re.M)
    assert len(ids) == 12 and set(ids) == set(RummageClient.OPERATIONS)
    for method in RummageClient.OPERATIONS.values():
        assert callable(getattr(RummageClient, method))


def test_recommendations_personalised_filtered_and_fallback(client):
    answer = client.recommendations("u12", k=5)
    assert isinstance(answer, Recommendations) and answer.user == "u12" and len(answer.items) == 5
    assert answer.items[0].score >= answer.items[-1].score and answer.variant == "champion" and answer.ranking_id
    cheap = client.recommendations("u12", k=5, max_price=30)
    assert cheap.items
    unknown = client.recommendations("nobody-" + uuid.uuid4().hex, k=3)
    assert unknown.fallback and unknown.reason == "popular_unknown_user"
    with pytest.raises(RummageError) as error:
        client.recommendations("u12", k=0)
    assert error.value.status == 400 and "k" in error.value.message


def test_similar_listings_and_an_unknown_one(client):
    item = client.recommendations("u12", k=1).items[0].item
    similar = client.similar(item, k=3)
    assert isinstance(similar, SimilarItems) and similar.item == item and len(similar.items) == 3
    with pytest.raises(RummageError) as error:
        client.similar("no-such-listing-" + uuid.uuid4().hex)
    assert error.value.status == 404


def test_surfaces_configured_and_predefined_with_explanations(client):
    home = client.surface("home", user="u12", k=5, explain=True)
    assert isinstance(home, SurfaceRecommendations) and home.surface == "home" and len(home.items) == 5
    assert [item.item for item in home.items] == [item.item for item in client.recommendations("u12", k=5).items]
    assert [e.retrieval_rank for e in home.explanations] == list(range(5))
    assert all(e.source == "personalised" for e in home.explanations)
    new_in = client.surface("new_in", user="u12", k=5)
    assert new_in.surface == "new_in" and new_in.items and not new_in.explanations
    similar = client.surface("similar", item=home.items[0].item, user="u12", k=3)
    assert similar.item == home.items[0].item and len(similar.items) == 3
    with pytest.raises(RummageError) as error:
        client.surface("nowhere", user="u12")
    assert error.value.status == 404 and "new_in" in error.value.message
    with pytest.raises(RummageError) as error:
        client.surface("similar", user="u12")
    assert error.value.status == 400


def test_listings_are_created_moved_and_refused_when_the_lifecycle_says_no(client):
    item = "py-" + uuid.uuid4().hex[:12]
    created = client.create_listing(item, seller="u3", price=12.5, attributes={"category": "tops", "brand": "acme"})
    assert isinstance(created, IngestReply) and created.appended == 1
    assert client.listing(item) == Listing(item=item, state="active", seller="u3")
    reserved = client.set_state(item, "reserved", seller="u3")
    assert reserved.state == "reserved" and reserved.changed is True
    assert client.set_state(item, "reserved", seller="u3").changed is False  # a retry is safe
    sold = client.set_state(item, "sold", seller="u3")
    assert sold.state == "sold"
    with pytest.raises(RummageError) as invalid:
        client.set_state(item, "hidden", seller="u3")
    assert invalid.value.status == 409
    with pytest.raises(RummageError) as foreign:
        client.set_state(item, "relisted", seller="someone-else")
    assert foreign.value.status == 403
    with pytest.raises(RummageError) as missing:
        client.listing("no-such-listing-" + uuid.uuid4().hex)
    assert missing.value.status == 404


def test_events_one_or_many_with_refusals_named(client):
    item = client.recommendations("u7", k=1).items[0].item
    one = client.send_events({"event_id": "py-" + uuid.uuid4().hex, "type": "view", "timestamp": 1775000000, "user": "u7", "item": item})
    assert one.appended == 1 and one.refused == []
    same = "py-" + uuid.uuid4().hex
    batch = client.send_events([
        {"event_id": same, "type": "like", "timestamp": 1775000010, "user": "u7", "item": item},
        {"event_id": same, "type": "like", "timestamp": 1775000010, "user": "u7", "item": item},
        {"event_id": "py-" + uuid.uuid4().hex, "type": "view", "timestamp": 1775000020, "user": "u7", "item": "no-such-listing"},
    ])
    assert batch.appended == 1 and batch.duplicates == 1 and [r["index"] for r in batch.refused] == [2]
    with pytest.raises(RummageError) as error:
        client.send_events({"event_id": "py-x", "type": "flying", "timestamp": 1775000000})
    assert error.value.status in (400, 422)


def test_operations_endpoints(client):
    assert client.health()["status"] == "ok"
    ready = client.ready()
    assert isinstance(ready, Readiness) and ready.status == "ready" and ready.model == "mp" and ready.indexed > 0
    assert "rummage_requests_total" in client.metrics() or "rummage_" in client.metrics()
    assert "<html" in client.dashboard().lower()
    reloaded = client.reload()
    assert isinstance(reloaded, Reloaded) and reloaded.variant == "champion" and reloaded.to_version == ready.model_version


def test_keys_are_required_and_scoped(server):
    base, _ = server
    with pytest.raises(RummageError) as error:
        RummageClient(base).recommendations("u12")
    assert error.value.status == 401
    with pytest.raises(RummageError) as wrong:
        RummageClient(base, api_key="rmg_" + "0" * 64).metrics()
    assert wrong.value.status == 401
