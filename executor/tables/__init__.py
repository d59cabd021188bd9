"""PostgreSQL tables of a workspace: the documents API (`/v1/collections`) and the PostgREST mount (`/rest/v1`)."""
