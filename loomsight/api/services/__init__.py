"""The API's work, apart from HTTP: each service gets a database session and what else it needs."""
