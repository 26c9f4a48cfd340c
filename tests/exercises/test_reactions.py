"""Exercise reactions (step 13): emoji reactions, one per person per emoji, counted for the message's room."""


def send(live, client, text):
    """Send a message from `client` and return its id."""
    reply = live.answer(client, "event_message", {"text": text})
    assert reply.get("ok") is True, f"a plain message could not be sent: {reply}"
    return reply["message"]["id"]


def react(live, client, message_id, emoji, who):
    """`client` reacts with `emoji`; the ack, which must say ok."""
    reply = live.answer(client, "react", {"id": message_id, "emoji": emoji})
    assert reply.get("ok") is True, f"{who}'s {emoji} on message {message_id} was refused: {reply}"
    return reply


def test_everyone_in_the_room_sees_how_many_reacted(live):
    ana, bea, cid = live.join("ana"), live.join("bea"), live.join("cid")
    message_id = send(live, ana, "hola")
    first = react(live, ana, message_id, "👍", "ana")
    assert first.get("counts") == {"👍": 1}, f"after ana's 👍 the ack should count {{'👍': 1}}: {first}"
    react(live, bea, message_id, "👍", "bea")
    last = react(live, bea, message_id, "🎉", "bea")
    assert last.get("counts") == {"👍": 2, "🎉": 1}, (
        f"after 👍 from ana and bea and 🎉 from bea, the ack should count {{'👍': 2, '🎉': 1}}: {last}")
    live.wait_for(cid, "reactions", "cid, in the message's room, never received `reactions` counting 👍: 2",
                  where=lambda data: data.get("counts") == {"👍": 2})
    (seen,) = live.wait_for(cid, "reactions", "cid never received `reactions` counting 👍: 2 and 🎉: 1",
                            where=lambda data: data.get("counts") == {"👍": 2, "🎉": 1})
    assert seen == {"id": message_id, "room": "general", "counts": {"👍": 2, "🎉": 1}}, (
        f"`reactions` should be {{id, room, counts}} with the message's id and room: {seen}")


def test_reacting_again_with_the_same_emoji_takes_it_back(live):
    ana, bea, cid = live.join("ana"), live.join("bea"), live.join("cid")
    message_id = send(live, ana, "hola")
    react(live, ana, message_id, "👍", "ana")
    react(live, bea, message_id, "👍", "bea")
    again = react(live, ana, message_id, "👍", "ana")
    assert again.get("counts") == {"👍": 1}, (
        f"ana's second 👍 should take hers back, leaving {{'👍': 1}}; the ack counts {again.get('counts')}")
    live.wait_for(cid, "reactions", "cid never received the counts after ana took her 👍 back ({'👍': 1})",
                  count=3)
    gone = react(live, bea, message_id, "👍", "bea")
    assert gone.get("counts") == {}, (
        f"with nobody's 👍 left, counts should be empty (an emoji at 0 disappears): {gone.get('counts')}")
    (*_, latest) = live.wait_for(cid, "reactions", "cid never received the counts after the last 👍 was taken back",
                                 count=4)
    assert latest.get("counts") == {}, f"the room's last `reactions` should have empty counts: {latest}"


def test_another_room_hears_nothing_of_a_reaction(live):
    bea, cid = live.join("bea", room="grupo-1"), live.join("cid", room="grupo-1")
    ana = live.join("ana")  # in general
    message_id = send(live, bea, "hola grupo")
    react(live, cid, message_id, "😂", "cid")
    (seen,) = live.wait_for(bea, "reactions", "bea, in the message's room, never received `reactions`")
    assert seen.get("room") == "grupo-1", f"`reactions` should name the message's room, grupo-1: {seen}"
    # ana's own message comes after the reaction: once she has it, she would have had `reactions` too.
    send(live, ana, "hola general")
    live.wait_for(ana, "new_message", "ana never received her own message",
                  where=lambda message: message.get("text") == "hola general")
    assert not ana.received("reactions"), "`reactions` reached a client in another room (ana, in general)"


def test_a_bad_reaction_is_refused_and_nothing_changes(live):
    ana, bea = live.join("ana"), live.join("bea")
    nameless = live.join()
    message_id = send(live, ana, "hola")
    react(live, ana, message_id, "👍", "ana")
    for client, payload, why, named in (
            (ana, {"id": message_id, "emoji": "💩"}, "an emoji outside the allowed set (💩)", None),
            (ana, {"id": message_id, "emoji": "thumbs up"}, "a word instead of an emoji", None),
            (ana, {"id": 999, "emoji": "👍"}, "an unknown message id (999)", "999"),
            (ana, {"emoji": "👍"}, "no message id", None),
            (ana, "👍", "a payload that is not an object", None),
            (nameless, {"id": message_id, "emoji": "👍"}, "a client with no name and no login", None)):
        reply = live.answer(client, "react", payload)
        assert reply.get("ok") is False and reply.get("error"), f"a reaction with {why} was not refused: {reply}"
        if named:
            assert named in str(reply["error"]), f"the error should name the message that does not exist ({named}): {reply}"
    live.wait_for(ana, "message_error", "ana got no message_error when her reaction was refused")
    counts = react(live, bea, message_id, "👍", "bea").get("counts")
    assert counts == {"👍": 2}, (
        f"after the refused reactions, bea's 👍 should make the counts {{'👍': 2}}, not {counts}: "
        "something refused was saved, or something saved was lost")
