"""The store: connections, tables, versioned migrations, policies, roles, rollups and audit
views, binary COPY and the embedded server."""
