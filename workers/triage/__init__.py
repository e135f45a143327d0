"""Triage: a new case's category and severity (rules + the learned model), then its group and
owner (routing), and the staff and leadership notices that follow.

Takes case ids from intake; hands outbox rows to outbound. Actors: `stage.py`.
"""
