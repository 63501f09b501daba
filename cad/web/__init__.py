"""Pages and HTTP plumbing that belong to no single desk: the home page's role routing,
placeholders for screens still to come, and the Content-Security-Policy middleware. (`/healthz`
and the other operators' endpoints are in `cad/ops/`.)"""
