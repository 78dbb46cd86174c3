"""A person's requests as values: the names already on the wire and on disk never change."""

from __future__ import annotations

from rollout.actions import Action


def test_buttons_keep_the_action_ids_messages_already_posted_carry() -> None:
    # Given Slack messages posted by earlier rollbots, whose buttons carry these IDs
    posted = {
        "rollbot_approve": Action.APPROVE,
        "rollbot_reject": Action.REJECT,
        "rollbot_pause": Action.PAUSE,
        "rollbot_resume": Action.RESUME,
        "rollbot_cancel": Action.CANCEL,
        "rollbot_rollback": Action.ROLLBACK,
        "rollbot_retry": Action.RETRY,
        "rollbot_skip": Action.SKIP,
        "rollbot_remove_old": Action.REMOVE_OLD,
        "rollbot_stop_release": Action.STOP_RELEASE,
    }

    # Then each still names its request, and each request makes that same ID
    assert {action_id: Action.from_button(action_id) for action_id in posted} == posted
    assert {action.button_id: action for action in Action} == posted
    assert Action.from_button("rollbot_dance") is None


def test_the_journal_spells_requests_as_it_always_has() -> None:
    assert [str(action) for action in Action] == [
        "approve", "reject", "pause", "resume", "cancel", "rollback", "retry", "skip",
        "remove-old", "stop-release",
    ]  # fmt: skip
    assert Action("remove-old") is Action.REMOVE_OLD
