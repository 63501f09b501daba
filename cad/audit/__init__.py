"""The audit trail (DPA 2018 s.62): recording every change and every read of personal data,
searching and exporting it, and the append-only guards (ORM and database triggers) that keep
this trail, the incident log and the event log from ever being rewritten. The admin's base
classes live here too, because what they add to Django's admin is the audit of each change."""
