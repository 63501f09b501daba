"""Texts to callers while police are on the way (issue 15): despatch, arrival, close.

Resources sees both what it does itself (a unit sent: `assignment.created`) and what incidents
does (its status reaching `at_scene`, its close), so the reactions live here; the texts
themselves are written through incidents' services (incidents/public/texts.py).
"""
