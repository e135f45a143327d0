"""Intake: from the mailbox to a decided mail — a new case, a follow-up, screened or quarantined.

The poller (or the folder inbox) stores raw bytes durably and hands the row ids to ingest;
ingest parses, screens, correlates, and files the mail: a new case with its acknowledgement
(then to triage, workers.hops.after_ingest), or a follow-up on its case (casework reacts), or
a screened / quarantined row. Actors: `stage.py`.
"""
