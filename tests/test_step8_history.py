"""Step 8: history by the page: `before` pages back, `after` catches up, both cut by id."""
import pytest

from test_step5_messages import add_messages, texts


def test_history_limit_before_and_after(client):
    add_messages(10)
    ids = [m["id"] for m in client.get("/messages").get_json()]
    assert texts(client.get("/messages?limit=3")) == ["m8", "m9", "m10"]
    assert texts(client.get(f"/messages?limit=3&before={ids[7]}")) == ["m5", "m6", "m7"]
    assert texts(client.get(f"/messages?limit=3&after={ids[1]}")) == ["m3", "m4", "m5"]
    assert texts(client.get(f"/messages?after={ids[-1]}")) == []
    assert texts(client.get("/messages?before=0")) == []
    assert texts(client.get("/messages?after=0&limit=200")) == [f"m{n}" for n in range(1, 11)]


def test_paging_back_visits_every_message_once(client):
    add_messages(25)
    seen, before = [], ""
    while page := client.get(f"/messages?limit=7{before}").get_json():
        seen = page + seen
        before = f"&before={page[0]['id']}"
    assert [m["text"] for m in seen] == [f"m{n}" for n in range(1, 26)]


@pytest.mark.parametrize("query, error", [
    ("before=-1", "before must be a whole number from 0 to"),
    ("after=-1", "after must be a whole number from 0 to"),
    ("before=99999999999999999999999", "before must be"),
    ("before=5&after=2", "use before or after, not both"),
])
def test_bad_paging_parameters_are_400(client, query, error):
    response = client.get(f"/messages?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(error)


def test_messages_parameters_carry_their_bounds(spec):
    params = {p["name"]: p for p in spec["paths"]["/messages"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"], params["limit"]["default"]) == (1, 200, 50)
    assert params["before"]["type"] == params["after"]["type"] == "integer"
    assert params["before"]["minimum"] == 0
