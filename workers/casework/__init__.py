"""Casework: what people do on an open case, by mail.

Staff: authentication, `#command` parsing and planning, the transcript. Complainants: intent
(information, review request, withdrawal, rating) and the reaction to it. Both end in the
lifecycle (transitions, pure) and its rows; the clock is told (workers.clock.deadlines) and
replies are queued (workers.outbound). Called by intake for follow-ups; no actors of its own.
"""
