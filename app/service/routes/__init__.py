"""The service's routes, one router per resource: ``operations`` (health, readiness, metrics), ``indexes`` (the
served indexes and their documents), ``search`` and ``documents`` (updates, behind the API key)."""
