"""Run the whole three-tier stack on one machine without Docker: database, replicas, nginx."""
