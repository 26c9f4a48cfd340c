"""Exercise unread-count (step 6): a user who comes back is told how many messages came while away."""

PASSWORD = "correct horse"


def log_in(live, username):
    """Register `username` and log in over REST; return the access token."""
    live.post("/auth/register", json={"username": username, "password": PASSWORD})
    response = live.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, f"logging in as {username} failed: {response.status_code} {response.text[:200]}"
    return response.json()["access_token"]


def send(live, client, *texts):
    """Send each text as an event_message and wait until the server has saved it; return the messages."""
    replies = [live.answer(client, "event_message", {"text": text}) for text in texts]
    assert all(reply.get("ok") is True for reply in replies), f"the chat refused a message: {replies}"
    return [reply["message"] for reply in replies]


def leave(live, client, username, watcher):
    """Close `client` and wait until `watcher` is told, by presence, that `username` is gone."""
    gone = lambda presence: username not in presence.get("users", [])  # noqa: E731
    before = len([presence for presence in watcher.received("presence") if gone(presence)])
    client.close()
    live.wait_for(watcher, "presence", f"after {username} closed the connection, presence still lists {username}",
                  count=before + 1, where=gone)


def test_a_user_who_comes_back_hears_how_many_messages_came_while_away(live):
    token = log_in(live, "bea")
    bea = live.join(token=token)
    ana = live.join("ana")
    (seen,) = send(live, ana, "are you there, bea?")
    live.wait_for(bea, "new_message", "bea never received ana's message", where=lambda m: m.get("id") == seen["id"])
    leave(live, bea, "bea", ana)
    send(live, ana, "bea left", "and she missed this")
    back = live.join(token=token)
    unread = live.wait_for(back, "unread", "bea came back after two new messages and got no `unread` event")[0]
    assert unread == {"count": 2, "since_id": seen["id"]}, (
        f"bea left after message {seen['id']} and missed 2 messages: `unread` should be "
        f"{{'count': 2, 'since_id': {seen['id']}}}, and it was {unread}")


def test_a_first_time_user_hears_of_every_message_and_a_guest_of_none(live):
    ana = live.join("ana")
    send(live, ana, "uno", "dos", "tres")
    bea = live.join(token=log_in(live, "bea"))
    unread = live.wait_for(bea, "unread", "bea, logged in, connected for the first time and got no `unread` event")[0]
    assert unread == {"count": 3, "since_id": 0}, (
        f"the first time bea connects, `unread` should count all 3 messages since id 0; it was {unread}")
    zoe = live.join("zoe")
    # zoe's message is answered after anything her connection was sent; ana receives it after bea's unread
    (hola,) = send(live, zoe, "hola")
    live.wait_for(ana, "new_message", "ana never received zoe's message", where=lambda m: m.get("id") == hola["id"])
    assert not zoe.received("unread"), "a guest (connected without a token) got an `unread` event"
    assert not ana.received("unread"), "bea's `unread` event went to others too (ana, a guest, got it)"


def test_coming_back_with_nothing_new_counts_zero(live):
    ana = live.join("ana")
    *_, newest = send(live, ana, "uno", "dos")
    token = log_in(live, "bea")
    bea = live.join(token=token)
    live.wait_for(bea, "unread", "bea, logged in, connected and got no `unread` event")
    leave(live, bea, "bea", ana)
    back = live.join(token=token)
    unread = live.wait_for(back, "unread", "bea came back and got no `unread` event")[0]
    assert unread == {"count": 0, "since_id": newest["id"]}, (
        f"bea had seen every message (the newest is {newest['id']}) and nothing was said while she was away: "
        f"`unread` should be {{'count': 0, 'since_id': {newest['id']}}}, and it was {unread}")
