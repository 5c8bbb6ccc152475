"""AI Search (formerly AutoRAG): documents in, grounded answers and semantic search out, built on kumo's
Workers AI and Vectorize services."""
