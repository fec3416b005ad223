"""Property: whatever a customer types, the agent replies and nothing in the store changes
without an authenticated, confirmed request."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from dialogue.conversation import ConversationClosed
from tests.dialogue_helpers import runner, store_fingerprint

FRAGMENTS = st.sampled_from(
    [
        "cancel",
        "refund",
        "yes",
        "no",
        "#W1234567",
        "order",
        "human",
        "{{ x }}",
        "<b>",
        "' OR 1=1",
        "my name is",
        "02134",
        "the blue bottle",
        "\x00",
        "😡",
        "\udc80",
    ]
)
MESSAGE = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200),
    st.lists(FRAGMENTS, min_size=1, max_size=6).map(" ".join),
)


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=st.lists(MESSAGE, min_size=1, max_size=6))
def test_any_messages_get_replies_and_change_nothing(
    world_sessions: sessionmaker[Session], messages: list[str | bytes]
) -> None:
    before = store_fingerprint(world_sessions)
    run = runner(world_sessions)
    conversation_id = run.start()
    for message in messages:
        try:
            reply = run.send(conversation_id, message)
        except ConversationClosed:
            break
        assert reply.text and reply.act
        assert reply.act != "cancel_done"
    statuses, refunds, _ = store_fingerprint(world_sessions)
    assert (statuses, refunds) == before[:2]
