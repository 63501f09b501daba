"""Who someone is and what they may do: sign-in behind the lockout, the second factor (TOTP),
idle sessions, the roles and their BCU scope, provisioning users, and the middleware that puts a
login in front of every page. Everything else asks this package "who is this, and where may they
act?"; it asks nothing of the feature apps."""
