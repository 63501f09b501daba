"""Pages and HTTP plumbing that belong to no single desk: the home page's role routing,
`/healthz`, placeholders for screens still to come, and the Content-Security-Policy middleware."""
