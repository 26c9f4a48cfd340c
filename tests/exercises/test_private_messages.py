"""Exercise private-messages (step 4): a message to one person, by name, that nobody else sees."""


def test_a_private_message_reaches_the_person_it_is_for(live):
    ana, bob, bobs_other_tab = live.join("ana"), live.join("bob"), live.join("bob")
    reply = live.answer(ana, "private_message", {"to": "bob", "text": "psst"})
    assert reply.get("ok") is True, f"a private message to bob, who is online, was refused: {reply}"
    acked = {key: (reply.get("message") or {}).get(key) for key in ("from", "to", "text")}
    assert acked == {"from": "ana", "to": "bob", "text": "psst"}, (
        f"the acknowledgement should carry the message (from ana, to bob, text psst); it carries {reply}")
    for tab in (bob, bobs_other_tab):
        (received,) = live.wait_for(tab, "private_message", "one of bob's two tabs never received the private "
                                    "message ana sent him: it goes to every tab of that name")
        shown = {key: received.get(key) for key in ("from", "to", "text")}
        assert shown == {"from": "ana", "to": "bob", "text": "psst"}, (
            f"bob's private_message should say from ana, to bob, text psst; it says {shown}")
        assert isinstance(received.get("created_at"), str), "a private message should say when it was sent (created_at)"


def test_nobody_else_sees_a_private_message(live):
    ana, bob, eve = live.join("ana"), live.join("bob"), live.join("eve")
    live.answer(ana, "private_message", {"to": "bob", "text": "psst"})
    live.wait_for(bob, "private_message", "bob never received the private message ana sent him")
    # A public message after it: once eve has that one, she would have had the private one too.
    public = live.answer(ana, "event_message", {"text": "hola a todos"})
    live.wait_for(eve, "new_message", "eve never received ana's public message",
                  where=lambda message: message.get("text") == "hola a todos")
    assert not eve.received("private_message"), "a private message reached someone it was not for (eve)"
    assert all(message.get("text") != "psst" for client in (ana, bob, eve) for message in client.received("new_message")), (
        "the private message went to the whole chat as a new_message")
    assert public["message"]["id"] == 1, (
        "the private message was kept with the chat's messages: the next public message got id "
        f"{public['message']['id']}, not 1")


def test_a_name_that_is_not_online_is_refused_clearly(live):
    ana, bob = live.join("ana"), live.join("bob")
    reply = live.answer(ana, "private_message", {"to": "zoe", "text": "are you there?"})
    assert reply.get("ok") is False, f"a private message to zoe, who is not online, was accepted: {reply}"
    assert "zoe" in str(reply.get("error")), f"the error should name who is not online (zoe): {reply}"
    live.wait_for(ana, "message_error", "the sender got no message_error saying zoe is not online")
    for payload, why in (({"to": "bob"}, "no text"), ({"text": "hola"}, "no `to`"), ("bob", "not an object"),
                         ({"to": "bob", "text": "   "}, "an empty text")):
        reply = live.answer(ana, "private_message", payload)
        assert reply.get("ok") is False and reply.get("error"), f"a private message with {why} was not refused: {reply}"
    public = live.answer(ana, "event_message", {"text": "still here"})
    live.wait_for(bob, "new_message", "after the refused private messages, the chat stopped working",
                  where=lambda message: message.get("text") == "still here")
    assert not bob.received("private_message"), "a refused private message still reached someone"
    assert public["ok"] is True
