"""The guided registration intake: a bot asks a resident who wants to register for what the
operators need (consent first), validates each answer on the spot, and hands the case to the
registration queue complete, or earlier to an operator when asked or stuck.

`form` loads the questions and texts (templates/intake/form.yaml), `validators` and `engine`
are pure, `dialogue` applies a turn in the inbox's transaction (one row per conversation,
locked), `reminders` is the sweep's part, `view` what the console shows.
"""
