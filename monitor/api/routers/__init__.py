"""The API's routers: reads, feeds, search, operations."""
