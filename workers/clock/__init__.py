"""The legal clock: working days, the clock's rules, deadline rows, and the tick.

`workdays` (the national calendar), `rules` (pure: which deadlines a case has and what happens
when one is due), `deadlines` (opening, meeting, pausing the rows), `scheduler` (the tick that
finds due rows), `due` (acting on one: reminder, escalation, automatic ending), `escalation`
(who is told), `letters` (the clock's mails). Hands the mails it queues to outbound. Actors:
`stage.py`.
"""
